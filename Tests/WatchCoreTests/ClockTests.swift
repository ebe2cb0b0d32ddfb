import Foundation
import Testing
import WatchCore
import WatchTesting

@Suite("Time through an injected clock", .timeLimit(.minutes(1)))
struct ClockTests {
    @Test("the token bucket spaces requests by its rate, by the clock it is given")
    func bucketSpacing() async throws {
        let clock = ManualClock()
        let bucket = TokenBucket(rate: 10, burst: 1, clock: clock)
        _ = try await bucket.acquire()  // the first goes at once
        let second = Task { try await bucket.acquire() }
        await clock.waitForSleepers(1)
        clock.advance(by: .milliseconds(99))
        #expect(clock.sleepers == 1, "not before 100 ms")
        clock.advance(by: .milliseconds(1))
        _ = try await second.value
        #expect(clock.uptime == .milliseconds(100))
    }

    @Test("a 429 pause holds back the next request for the whole pause")
    func bucketPause() async throws {
        let clock = ManualClock()
        let bucket = TokenBucket(rate: 1000, burst: 1, clock: clock)
        await bucket.pause(for: .seconds(30))
        let waiting = Task { try await bucket.acquire() }
        await clock.waitForSleepers(1)
        clock.advance(by: .seconds(29))
        #expect(clock.sleepers == 1)
        clock.advance(by: .seconds(1))
        _ = try await waiting.value
    }

    @Test("the heartbeat's age is measured on its clock, and a long sleep beats every second")
    func heartbeat() async throws {
        let clock = ManualClock()
        let heartbeat = Heartbeat(clock: clock)
        clock.advance(by: .seconds(3))
        #expect(heartbeat.age == .seconds(3))
        let sleeping = Task { try await heartbeat.sleep(for: .milliseconds(2500)) }
        for step in 1...3 {
            await clock.waitForSleepers(1)
            clock.advance(by: .seconds(1))
            if step < 3 {
                await clock.waitForSleepers(1)
                #expect(heartbeat.age == .zero, "beat after slice \(step)")
            }
        }
        try await sleeping.value
        #expect(clock.uptime == .seconds(6))
    }
}
