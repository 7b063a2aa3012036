// Misuse that the compiler cannot reject traps, with a message that names the right order of
// calls — in every home: each case runs in a child process (an exit test) and checks the message
// on stderr.
import BatchIPC
import BatchTestSupport
import Testing

@Suite("Misuse traps with the right order of calls", .timeLimit(.minutes(1)))
struct MisuseTests {
    @Test(arguments: TestHome.allCases, CoordinatorMisuse.allCases)
    func coordinator(_ home: TestHome, _ misuse: CoordinatorMisuse) async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            [home = home as TestHome, misuse = misuse as CoordinatorMisuse] in
            let coordinator = home.makeCoordinator { 0 }
            misuse.perform(on: coordinator)
        }
        #expect(stderrText(result).contains(misuse.message), "\(stderrText(result))")
    }

    @Test(arguments: TestHome.allCases, MultiMisuse.allCases)
    func multi(_ home: TestHome, _ misuse: MultiMisuse) async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            [home = home as TestHome, misuse = misuse as MultiMisuse] in
            let multi = home.makeMulti(coaches: 2) { $0 }
            misuse.perform(on: multi)
        }
        #expect(stderrText(result).contains(misuse.message), "\(stderrText(result))")
    }

    @Test(arguments: SharedMisuse.allCases)
    func sharedAccessors(_ misuse: SharedMisuse) async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            [misuse = misuse as SharedMisuse] in
            let segment = makeSegment(SharedBatchConfiguration(stateSize: 8, arenaCapacity: 256))
            misuse.perform(on: try! SharedCoordinator<Int>(segment: segment) { _ in 0 })
        }
        #expect(stderrText(result).contains(misuse.message), "\(stderrText(result))")
    }

    @Test(arguments: AsyncTestHome.allCases, AsyncMisuse.allCases)
    func async(_ home: AsyncTestHome, _ misuse: AsyncMisuse) async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            [home = home as AsyncTestHome, misuse = misuse as AsyncMisuse] in
            let coordinator = home.makeCoordinator { 0 }
            await misuse.perform(on: coordinator)
        }
        #expect(stderrText(result).contains(misuse.message), "\(stderrText(result))")
    }
}

/// Misuse of a coordinator's calls, and the words its trap must say.
enum CoordinatorMisuse: String, CaseIterable, Codable, Sendable {
    case exitWithoutEnter, commitWithoutEnter, commitTwice, cancelAfterCommit, enterTwice, enterWithoutQueueIn
    case triggerOutside, notifyInside, queueInInside, ticketInside, leaveEscapedSection

    var message: String {
        switch self {
        case .exitWithoutEnter: "exit() without enter()"
        case .commitWithoutEnter: "queueIn(), enter(), commit(), exit()"
        case .commitTwice: "called twice"
        case .cancelAfterCommit: "cancel() after commit() or cancel()"
        case .enterTwice: "enter() called twice"
        case .enterWithoutQueueIn: "call queueIn() before enter()"
        case .triggerOutside: "trigger() outside the batch"
        case .notifyInside: "notify() inside the batch would deadlock"
        case .queueInInside: "queueIn() inside the batch"
        case .ticketInside: "ticket() inside the batch"
        case .leaveEscapedSection: "only valid inside the closure it was given to"
        }
    }

    func perform(on c: some BatchCoordinator<Int>) {
        switch self {
        case .exitWithoutEnter:
            c.exit()
        case .commitWithoutEnter:
            c.queueIn()
            _ = try? c.commit()
        case .commitTwice:
            c.queueIn()
            _ = c.enter()
            _ = try? c.commit()
            _ = try? c.commit()
        case .cancelAfterCommit:
            c.queueIn()
            _ = c.enter()
            _ = try? c.commit()
            _ = try? c.cancel()
        case .enterTwice:
            c.queueIn()
            c.queueIn()
            _ = c.enter()
            _ = c.enter()
        case .enterWithoutQueueIn:
            _ = c.enter()
        case .triggerOutside:
            c.trigger()
        case .notifyInside:
            _ = try? c.batch { _ in c.notify() }
        case .queueInInside:
            _ = try? c.batch { _ in c.queueIn() }
        case .ticketInside:
            _ = try? c.batch { _ in _ = c.ticket() }
        case .leaveEscapedSection:
            leaveEscaped(c)
        }
    }
}

/// A section moved out of its closure, then left: its batch is over, its closure's frame gone.
func leaveEscaped<C: BatchCoordinator>(_ c: C) {
    var escaped: BatchSection<C>? = nil
    _ = try? c.batch { section in escaped = consume section }
    escaped.take()?.leave()
}

/// Misuse of a multi-coordinator's calls.
enum MultiMisuse: String, CaseIterable, Codable, Sendable {
    case wrongCoach, exitWithoutEnter, commitTwice, balancerInside

    var message: String {
        switch self {
        case .wrongCoach: "pass the coach enter() returned"
        case .exitWithoutEnter: "exit() without enter()"
        case .commitTwice: "called twice"
        case .balancerInside: "setting the balancer inside the batch would deadlock"
        }
    }

    func perform(on multi: some MultiBatchCoordinator<Int>) {
        switch self {
        case .wrongCoach:
            multi.queueIn()
            let (coach, _) = multi.enter()
            multi.exit(coach: 1 - coach)
        case .exitWithoutEnter:
            multi.exit(coach: 1)
        case .commitTwice:
            multi.queueIn()
            let (coach, _) = multi.enter()
            _ = try? multi.commit(coach: coach)
            _ = try? multi.commit(coach: coach)
        case .balancerInside:
            _ = try? multi.batch { _ in multi.balancer = { _ in 0 } }
        }
    }
}

/// Misuse of the shared-memory accessors, which only the holder of the section may call.
enum SharedMisuse: String, CaseIterable, Codable, Sendable {
    case withStateOutside, appendOutside

    var message: String {
        switch self {
        case .withStateOutside: "withState outside the batch"
        case .appendOutside: "append outside the batch"
        }
    }

    func perform(on c: SharedCoordinator<Int>) {
        switch self {
        case .withStateOutside: _ = try? c.withState(Int.self) { $0 = 1 }
        case .appendOutside: try? c.append(bytes: [1, 2, 3])
        }
    }
}

/// Misuse of an async coordinator's calls.
enum AsyncMisuse: String, CaseIterable, Codable, Sendable {
    case exitWithoutEnter, commitOutside, commitTwice, enterTwice, cancelAfterCommit

    var message: String {
        switch self {
        case .exitWithoutEnter: "exit() without enter()"
        case .commitOutside: "queueIn(), enter(), commit(), exit()"
        case .commitTwice: "called twice"
        case .enterTwice: "enter() called twice"
        case .cancelAfterCommit: "cancel() after commit() or cancel()"
        }
    }

    func perform(on c: some AsyncBatchCoordinator<Int>) async {
        switch self {
        case .exitWithoutEnter:
            c.exit()
        case .commitOutside:
            _ = try? await c.commit()
        case .commitTwice:
            c.queueIn()
            _ = try? await c.enter()
            _ = try? await c.commit()
            _ = try? await c.commit()
        case .enterTwice:
            c.queueIn()
            c.queueIn()
            _ = try? await c.enter()
            _ = try? await c.enter()
        case .cancelAfterCommit:
            c.queueIn()
            _ = try? await c.enter()
            _ = try? await c.commit()
            _ = try? c.cancel()
        }
    }
}

/// What the child process of an exit test wrote on stderr.
func stderrText(_ result: ExitTest.Result?) -> String {
    guard let result else { return "" }
    return String(decoding: result.standardErrorContent, as: UTF8.self)
}
