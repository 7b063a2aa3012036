// swift-tools-version: 6.2
// An example package of its own, so that swift-batch itself stays free of dependencies: it uses
// the root package by path (product BatchIPC) and the system's SQLite (Debian's libsqlite3-dev)
// through a system-library target. Linux only, like BatchIPC. See ../README.md.
import PackageDescription

let package = Package(
    name: "sqlite-group-commit",
    products: [
        .executable(name: "sqlite-group-commit", targets: ["sqlite-group-commit"])
    ],
    dependencies: [
        .package(name: "swift-batch", path: "../..")
    ],
    targets: [
        // <sqlite3.h> and -lsqlite3 from the system: nothing is downloaded or compiled.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .executableTarget(
            name: "sqlite-group-commit",
            dependencies: [
                "CSQLite",
                .product(name: "BatchIPC", package: "swift-batch"),
            ]
        ),
        .testTarget(
            name: "SQLiteGroupCommitTests",
            dependencies: ["sqlite-group-commit"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
