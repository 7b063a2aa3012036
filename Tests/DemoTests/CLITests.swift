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
    /// Every option the CLI accepts, from its one table (`list-options`): "--long" and maybe "-x".
    static func acceptedOptions() -> [(long: String, short: String?)] {
        let r = Demo.run(["list-options"])
        precondition(r.status == 0, "list-options failed: \(r.description)")
        return r.stdout.split(separator: "\n").map { line in
            let parts = line.split(separator: " ").map(String.init)
            return (parts[0], parts.count > 1 ? parts[1] : nil)
        }
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
        ])
    func usageErrorsExit64(_ args: [String]) {
        let r = Demo.run(args)
        #expect(r.status == 64, "\(args): \(r.description)")
        #expect(r.stderr.hasPrefix("Error: "), "\(args): \(r.stderr)")
        #expect(r.stderr.contains("Usage: batch-shm-demo"), "\(args): \(r.stderr)")
        #expect(r.stderr.contains("See 'batch-shm-demo --help' for more information."), "\(args): \(r.stderr)")
        #expect(r.stdout.isEmpty, "\(args): \(r.stdout)")
    }

    /// Every option the CLI accepts is documented in the man page and in --help.
    @Test(.timeLimit(.minutes(1)))
    func everyOptionIsInTheManPageAndTheHelp() throws {
        let options = Self.acceptedOptions()
        #expect(options.count >= 20)
        let man = Demo.readText(Demo.repositoryRoot + "/man/batch-shm-demo.1")
        #expect(!man.isEmpty, "man/batch-shm-demo.1 not found")
        let help = Demo.run(["--help"]).stdout
        for o in options + [("--help", "-h"), ("--version", nil)] {
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
        // Every subcommand too.
        for sub in ["spawn", "worker", "stat", "unlink", "list-options"] {
            #expect(man.contains(".It Cm \(sub)"), "\(sub) is not documented in the man page")
            #expect(help.contains(sub), "\(sub) is not in --help")
        }
    }

    /// The man page passes `mandoc -Tlint -W warning` (skipped where mandoc is not installed).
    @Test(.timeLimit(.minutes(1)))
    func manPageLintsClean() throws {
        let mandoc = ["/usr/bin/mandoc", "/usr/local/bin/mandoc"].first { (path: String) in access(path, X_OK) == 0 }
        guard let mandoc else { return }
        let out = Demo.tempFile("lint")
        defer { unlink(out) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_TRUNC, 0)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let args = [mandoc, "-Tlint", "-W", "warning", Demo.repositoryRoot + "/man/batch-shm-demo.1"]
        let argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        #expect(posix_spawn(&pid, mandoc, &actions, nil, argv, environ) == 0)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let text = Demo.readText(out)
        #expect(status == 0 && text.isEmpty, "mandoc -Tlint: \(text)")
    }
}
