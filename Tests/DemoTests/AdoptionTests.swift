// What a new user checks before adopting the package: the version is the same everywhere it is
// written, there is a license, and the README's examples and scripts are true on a fresh clone.

import Testing

@testable import batch_shm_demo

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

@Suite("adoption: version, license, README, scripts")
struct AdoptionTests {
    /// The text of a file of the repository.
    func file(_ path: String) -> String { Demo.readText(Demo.repositoryRoot + "/" + path) }

    /// `--version` prints the library's version (Sources/Batch/Version.swift), the newest entry of
    /// CHANGELOG.md is that version, and the man page's footer names it.
    @Test(.timeLimit(.minutes(1)))
    func versionIsTheChangelogsNewestEntryAndTheManPages() {
        let r = Demo.run(["--version"])
        #expect(r.status == 0, "\(r.description)")
        let prefix = "batch-shm-demo "
        #expect(r.stdout.hasPrefix(prefix) && r.stdout.hasSuffix("\n"), "\(r.stdout)")
        let version = String(r.stdout.dropFirst(prefix.count).dropLast())
        #expect(version.split(separator: ".").count == 3, "not MAJOR.MINOR.PATCH: \(version)")

        let heading = file("CHANGELOG.md").split(separator: "\n").first { $0.hasPrefix("## ") }
        let newest = heading.flatMap { $0.dropFirst(3).split(separator: " ").first }.map {
            String($0.filter { $0 != "[" && $0 != "]" })
        }
        #expect(newest == version, "CHANGELOG.md's newest entry is \(newest ?? "missing"), --version says \(version)")

        let footer = file("man/batch-shm-demo.1").split(separator: "\n").first { $0.hasPrefix(".Os") }
        #expect(footer == ".Os swift-batch \(version)", "man page: \(footer ?? "no .Os line")")
    }

    /// The README says how to depend on the current version, on which platform and Swift, near
    /// the top; its segment names are not those of docs/IPC.md (running one example after the
    /// other would meet a segment with other capacities).
    @Test(.timeLimit(.minutes(1)))
    func readmeInstallsTheCurrentVersion() {
        let readme = file("README.md")
        let version = String(Demo.run(["--version"]).stdout.dropFirst("batch-shm-demo ".count).dropLast())
        #expect(readme.contains("from: \"\(version)\""), "README's .package(url:from:) is not \(version)")
        for line in [
            #".product(name: "Batch", package: "swift-batch")"#, #".product(name: "BatchIPC", package: "swift-batch")"#,
            "Linux only", "Swift 6.2", "apt-get",
        ] {
            #expect(readme.contains(line), "README lacks \(line)")
        }
        let install = readme.firstRange(of: "## Installation")?.lowerBound
        let firstExample = readme.firstRange(of: "## In process")?.lowerBound
        #expect(install != nil && firstExample != nil && install! < firstExample!, "Installation comes first")

        func segmentNames(_ text: String) -> Set<String> {
            Set(text.split(separator: "name: \"").dropFirst().map { String($0.prefix { $0 != "\"" }) })
        }
        let ours = segmentNames(readme)
        #expect(!ours.isEmpty)
        #expect(ours.isDisjoint(with: segmentNames(file("docs/IPC.md"))), "\(ours)")
    }

    /// The scripts the README lists say what is missing instead of counting it as hangs.
    @Test(.timeLimit(.minutes(1)), arguments: ["scripts/crash-torture.sh", "scripts/group-commit-bench.sh"])
    func scriptsSayWhenTheDemoIsMissing(_ script: String) {
        let missing = "/nonexistent/batch-shm-demo"
        let r = Demo.run(["1", missing], program: Demo.repositoryRoot + "/" + script)
        #expect(r.status != 0, "\(script): \(r.description)")
        #expect(r.stderr.contains("\(missing): no such executable"), "\(script): \(r.description)")
        #expect(!r.stdout.contains("hang"), "\(script): \(r.stdout)")
    }

    @Test(.timeLimit(.minutes(1)))
    func thereIsALicenseAndTheReadmeNamesIt() {
        let license = file("LICENSE")
        #expect(license.hasPrefix("MIT License"), "LICENSE: \(license.prefix(40))")
        #expect(file("README.md").contains("[MIT](LICENSE)"))
    }
}
