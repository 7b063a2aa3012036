// Misuse that the compiler cannot reject traps, with a message that names the right order of
// calls. Each case runs in a child process (an exit test) and checks the message on stderr.
import Batch
import BatchTestSupport
import Testing

@Suite("Misuse traps with the right order of calls", .timeLimit(.minutes(1)))
struct MisuseTests {
    @Test func exitWithoutEnter() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let coordinator = Coordinator<Int> { 0 }
            coordinator.exit()
        }
        #expect(stderrText(result).contains("exit() without enter()"))
    }

    @Test func commitWithoutEnter() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let coordinator = Coordinator<Int> { 0 }
            coordinator.queueIn()
            _ = try? coordinator.commit()
        }
        #expect(
            stderrText(result).contains("queueIn(), enter(), commit(), exit()"))
    }

    @Test func commitTwice() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let coordinator = Coordinator<Int> { 0 }
            coordinator.queueIn()
            _ = coordinator.enter()
            _ = try? coordinator.commit()
            _ = try? coordinator.commit()
        }
        #expect(stderrText(result).contains("called twice"))
    }

    @Test func enterTwice() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let coordinator = Coordinator<Int> { 0 }
            coordinator.queueIn()
            coordinator.queueIn()
            _ = coordinator.enter()
            _ = coordinator.enter()
        }
        #expect(stderrText(result).contains("enter() called twice"))
    }

    @Test func enterWithoutQueueIn() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let coordinator = Coordinator<Int> { 0 }
            _ = coordinator.enter()
        }
        #expect(
            stderrText(result).contains("call queueIn() before enter()"))
    }

    @Test func notifyInsideTheSection() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let coordinator = Coordinator<Int> { 0 }
            _ = try? coordinator.batch { _ in coordinator.notify() }
        }
        #expect(stderrText(result).contains("notify() inside the batch would deadlock"))
    }

    @Test func queueInInsideTheSection() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let coordinator = Coordinator<Int> { 0 }
            _ = try? coordinator.batch { _ in coordinator.queueIn() }
        }
        #expect(stderrText(result).contains("queueIn() inside the batch"))
    }

    @Test func wrongCoach() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let multi = Multi<Int>(coaches: 2) { $0 }
            multi.queueIn()
            let (coach, _) = multi.enter()
            multi.exit(coach: 1 - coach)
        }
        #expect(
            stderrText(result).contains("pass the coach enter() returned"))
    }
}

/// What the child process of an exit test wrote on stderr.
func stderrText(_ result: ExitTest.Result?) -> String {
    guard let result else { return "" }
    return String(decoding: result.standardErrorContent, as: UTF8.self)
}
