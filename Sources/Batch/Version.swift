/// The package as a whole.
public enum BatchLibrary {
    /// The version of swift-batch, `MAJOR.MINOR.PATCH` (semantic versioning). The one place it is
    /// written: `batch-shm-demo --version` prints it, and the demo's tests check that the newest
    /// entry of CHANGELOG.md and the man page's footer name the same version.
    public static let version = "0.2.0"
}
