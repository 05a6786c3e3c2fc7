// A management path into one lab host: run inside the host's network namespace, it listens on a Unix
// socket (a file: reachable from every namespace) and pipes each connection to 127.0.0.1:<port> in
// there, where the daemon's HTTP/WebSocket API listens. Nothing of it touches the lab's network.
// Usage: node forward.mjs <socket path> <port>
import { rmSync } from 'node:fs'
import { connect, createServer } from 'node:net'

const [path, port] = process.argv.slice(2)
rmSync(path, { force: true })
const server = createServer((client) => {
  const target = connect(Number(port), '127.0.0.1')
  client.pipe(target)
  target.pipe(client)
  client.on('error', () => target.destroy())
  target.on('error', () => client.destroy())
  client.on('close', () => target.destroy())
  target.on('close', () => client.destroy())
})
server.listen(path, () => process.stdout.write('ready\n'))
const quit = () => {
  rmSync(path, { force: true })
  process.exit(0)
}
process.on('SIGTERM', quit)
process.on('SIGINT', quit)
// the harness holds our stdin: when it dies, so do we
process.stdin.on('end', quit)
process.stdin.resume()
