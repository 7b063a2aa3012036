// The command line of batch-shm-demo: help, version, usage errors, and the option table
// against the man page and --help.

import Testing

@testable import batch_shm_demo

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

@Suite("batch-shm-demo command line")
struct CLITests {
    /// Every option the CLI accepts, from its one table (`list-options`): "--long", maybe "-x",
    /// and for an integer option its range "LO...HI".
    static func acceptedOptions() -> [(long: String, short: String?, range: String?)] {
        let r = Demo.run(["list-options"])
        precondition(r.status == 0, "list-options failed: \(r.description)")
        return r.stdout.split(separator: "\n").map { line in
            let parts = line.split(separator: " ").map(String.init)
            return (
                parts[0], parts.dropFirst().first { $0.hasPrefix("-") }, parts.dropFirst().first { $0.contains("...") }
            )
        }
    }

    /// The man page's paragraph for `--long`: from its `.It` line to the next `.It`.
    static func manItem(_ man: String, _ long: String) -> String? {
        let lines = man.split(separator: "\n", omittingEmptySubsequences: false)
        let tag = Substring("-\(long)")
        guard let start = lines.firstIndex(where: { $0.hasPrefix(".It Fl") && $0.split(separator: " ").contains(tag) })
        else { return nil }
        let end = lines[(start + 1)...].firstIndex { $0.hasPrefix(".It") || $0.hasPrefix(".El") } ?? lines.endIndex
        return lines[start..<end].joined(separator: "\n")
    }

    @Test(.timeLimit(.minutes(1)))
    func helpGoesToStdoutAndExitsZero() {
        for args in [
            ["--help"], ["-h"], ["spawn", "--help"], ["stat", "-h"], ["unlink", "--help"], ["worker", "--help"],
        ] {
            let r = Demo.run(args)
            #expect(r.status == 0, "\(args): \(r.description)")
            #expect(r.stdout.contains("Usage: batch-shm-demo"), "\(args)")
            #expect(r.stderr.isEmpty, "\(args)")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func version() {
        let r = Demo.run(["--version"])
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("batch-shm-demo "))
    }

    @Test(
        .timeLimit(.minutes(1)),
        arguments: [
            [],
            ["bogus"],
            ["spawn", "--bogus"],
            ["spawn", "-Z"],
            ["spawn", "--ops"],
            ["spawn", "--ops", "many"],
            ["spawn", "--ops", "0"],
            ["spawn", "0"],
            ["spawn", "65"],
            ["spawn", "2", "3"],
            ["spawn", "--coaches", "0"],
            ["spawn", "--record-size", "8"],
            ["spawn", "--commit", "fsync"],
            ["spawn", "--crash", "sometimes"],
            ["spawn", "2", "--crash", "entered", "--crash-count", "3"],
            ["spawn", "--crash-count", "1"],
            ["spawn", "--baseline", "flock", "--crash", "entered"],
            ["spawn", "--baseline", "lockf"],
            ["spawn", "--baseline", "flock", "--coaches", "2"],
            ["spawn", "--baseline", "flock", "--yield-budget", "0"],
            ["spawn", "--yield-budget", "-1"],
            ["spawn", "--name", "no-slash"],
            ["spawn", "--name", "/a/b"],
            ["spawn", "--json=yes"],
            ["spawn", "--force"],
            ["stat", "--force", "/x"],
            ["unlink", "--json", "/x"],
            ["--ops", "3", "spawn"],
            ["stat"],
            ["unlink"],
            ["stat", "/a", "/b"],
            ["worker"],
            ["list-options", "extra"],
            ["list", "extra"],
            ["list", "--force"],
            ["clean", "extra"],
            ["clean", "--json"],
            ["help", "bogus"],
        ])
    func usageErrorsExit64(_ args: [String]) {
        let r = Demo.run(args)
        #expect(r.status == 64, "\(args): \(r.description)")
        #expect(r.stderr.hasPrefix("Error: "), "\(args): \(r.stderr)")
        #expect(r.stderr.contains("Usage: batch-shm-demo"), "\(args): \(r.stderr)")
        #expect(r.stderr.contains("See 'batch-shm-demo --help' for more information."), "\(args): \(r.stderr)")
        #expect(r.stdout.isEmpty, "\(args): \(r.stdout)")
    }

    /// A usage error says what is wrong, and names the range where there is one: the library's
    /// own limits for the segment's capacities.
    @Test(
        .timeLimit(.minutes(1)),
        arguments: [
            (["spawn", "--liveness", "30000"], "--liveness expects an integer in 1...10000, got '30000'"),
            (["spawn", "--liveness", "0"], "--liveness expects an integer in 1...10000, got '0'"),
            (["spawn", "--coaches", "1025"], "--coaches expects an integer in 1...1024, got '1025'"),
            (["spawn", "--yield-budget", "2500001"], "--yield-budget expects an integer in 0...2500000"),
            (
                [
                    "worker", "--segment", "/x", "--id", "0", "--log", "/dev/null", "--report", "/dev/null",
                    "--liveness", "30000",
                ],
                "--liveness expects an integer in 1...10000"
            ),
            (["spawn", "-1"], "N must be an integer in 1...64, got '-1'"),
            (["spawn", "65"], "N must be an integer in 1...64, got '65'"),
            (["spawn", "--json", "--quiet"], "--json and --quiet"),
            (["spawn", "-q", "--json"], "--json and --quiet"),
            (["help", "bogus"], "unknown subcommand 'bogus'"),
            (["help", "spawn", "stat"], "help takes at most one SUBCOMMAND"),
        ])
    func usageErrorsSayWhatIsWrong(_ args: [String], _ message: String) {
        let r = Demo.run(args)
        #expect(r.status == 64, "\(args): \(r.description)")
        #expect(r.stderr.hasPrefix("Error: \(message)"), "\(args): \(r.stderr)")
    }

    /// `help` and `help SUBCOMMAND` print what `--help` and `SUBCOMMAND --help` print.
    @Test(.timeLimit(.minutes(1)))
    func helpSubcommand() {
        let overview = Demo.run(["help"])
        #expect(overview.status == 0, "\(overview.description)")
        #expect(overview.stdout == Demo.run(["--help"]).stdout)
        for sub in ["spawn", "list", "stat", "unlink", "clean", "worker", "help", "list-options"] {
            let r = Demo.run(["help", sub])
            #expect(r.status == 0, "help \(sub): \(r.description)")
            #expect(r.stdout.contains("Usage: batch-shm-demo \(sub)"), "help \(sub): \(r.stdout)")
            #expect(r.stdout == Demo.run([sub, "--help"]).stdout, "help \(sub)")
        }
    }

    /// The most workers spawn starts (64) is in its help, the overview and the man page.
    @Test(.timeLimit(.minutes(1)))
    func maximumWorkersIsDocumented() {
        let line = { (text: String) in text.split(separator: "\n").first { $0.hasPrefix("  N ") } }
        #expect(line(Demo.run(["spawn", "--help"]).stdout)?.contains("1...64") == true)
        #expect(line(Demo.run(["--help"]).stdout)?.contains("1...64") == true)
        let man = Demo.readText(Demo.repositoryRoot + "/man/batch-shm-demo.1")
        #expect(man.contains("workers, 1 to 64"), "the man page does not give spawn's N range")
    }

    /// Every option the CLI accepts is documented in the man page and in --help.
    @Test(.timeLimit(.minutes(1)))
    func everyOptionIsInTheManPageAndTheHelp() throws {
        let options = Self.acceptedOptions()
        #expect(options.count >= 20)
        let man = Demo.readText(Demo.repositoryRoot + "/man/batch-shm-demo.1")
        #expect(!man.isEmpty, "man/batch-shm-demo.1 not found")
        let help = Demo.run(["--help"]).stdout
        for o in options + [("--help", "-h", nil), ("--version", nil, nil)] {
            let long = String(o.long.dropFirst(2))
            // mdoc: ".It Fl -ops Ar count" or ".It Fl n , -ops Ar count"
            let inMan = man.contains(".It Fl -\(long)") || man.contains(" , -\(long)")
            #expect(inMan, "--\(long) is not documented in man/batch-shm-demo.1 (.It Fl -\(long))")
            #expect(help.contains("--\(long)"), "--\(long) is not in --help")
            if let short = o.short {
                let letter = String(short.dropFirst())
                #expect(man.contains(".It Fl \(letter) , -\(long)"), "\(short) is not documented in the man page")
                #expect(help.contains("\(short), --\(long)"), "\(short) is not in --help")
            }
        }
        // Every range, as "LO to HI" (the man page's words for the table's LO...HI).
        for o in options {
            guard let range = o.range else { continue }
            let words = range.replacing("...", with: " to ")
            let item = Self.manItem(man, String(o.long.dropFirst(2))) ?? ""
            #expect(item.contains(words), "the man page's \(o.long) does not give its range \(words)")
        }
        // Every subcommand too.
        for sub in ["spawn", "worker", "list", "stat", "unlink", "clean", "help", "list-options"] {
            #expect(man.contains(".It Cm \(sub)"), "\(sub) is not documented in the man page")
            #expect(help.contains(sub), "\(sub) is not in --help")
        }
    }

    /// mandoc, where installed (the tests that need it pass trivially without it).
    static let mandoc = ["/usr/bin/mandoc", "/usr/local/bin/mandoc"].first { (path: String) in access(path, X_OK) == 0 }

    /// The man page passes `mandoc -Tlint -W warning` (skipped where mandoc is not installed).
    @Test(.timeLimit(.minutes(1)))
    func manPageLintsClean() throws {
        guard let mandoc = Self.mandoc else { return }
        let r = Demo.run(["-Tlint", "-W", "warning", Demo.repositoryRoot + "/man/batch-shm-demo.1"], program: mandoc)
        #expect(r.status == 0 && r.stdout.isEmpty && r.stderr.isEmpty, "mandoc -Tlint: \(r.description)")
    }

    /// EXIT STATUS quotes `ok` alone, not "ok is true" (as `.Ql ok No is true` rendered).
    @Test(.timeLimit(.minutes(1)))
    func manPageQuotesOkAlone() throws {
        guard let mandoc = Self.mandoc else { return }
        let r = Demo.run(["-Tutf8", Demo.repositoryRoot + "/man/batch-shm-demo.1"], program: mandoc)
        #expect(r.status == 0, "\(r.description)")
        // Bold and underline are "X\bX" and "_\bX": keep what follows each backspace.
        var page = String.UnicodeScalarView()
        for u in r.stdout.unicodeScalars {
            if u == "\u{8}" { _ = page.popLast() } else { page.append(u) }
        }
        let text = String(page)
        let exitStatus = text.split(separator: "EXIT STATUS").dropFirst().first?.split(separator: "EXAMPLES").first
        let section = exitStatus.map(String.init) ?? "no EXIT STATUS"
        #expect(section.contains("\u{2018}ok\u{2019}"), "\(section)")
        #expect(!text.contains("is true\u{2019}"), "a quote runs on past ok")
    }
}
