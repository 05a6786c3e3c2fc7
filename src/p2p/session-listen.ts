/**
 * The listen addresses of a session peer, from the daemon's own: every port chosen by the OS (the
 * daemon's fixed ports belong to peer-a), and no WebRTC-direct. Each WebRTC-direct listener is a
 * native ICE UDP mux (node-datachannel) that its `stop()` never closes (one UDP socket leaked per
 * session peer), and starting and stopping them as tabs come and go crashed the whole process
 * (SIGSEGV, `std::system_error`). Session peers still dial WebRTC-direct; browsers reach them over
 * WebSockets or through peer-a.
 */
export function sessionListenAddrs(listen: readonly string[]): string[] {
  return listen
    .filter((addr) => !/\/webrtc-direct(\/|$)/.test(addr))
    .map((addr) => addr.replace(/\/tcp\/\d+/, '/tcp/0').replace(/\/udp\/\d+/, '/udp/0'))
}
