import { afterAll } from 'vitest'
import { removeTempDirs } from './temp-dir.ts'

// A setup file: after each test file's tests, the directories its tempDir calls made go, also those a test
// that failed before its own cleanup (or that never cleans up) left behind. A full run left 14 in /tmp before.
afterAll(removeTempDirs)
