#if canImport(Glibc)
    import Glibc
#endif

/// Runs `body(t)` for `t` in `0..<count` on that many OS threads (the calling thread is thread 0)
/// and joins them. Kept out of main.swift so that the closures are not main-actor isolated.
func runThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    var handles: [pthread_t] = []
    for t in 1..<max(count, 1) {
        var thread = pthread_t()
        let box = Unmanaged.passRetained(Box { body(t) }).toOpaque()
        let rc = pthread_create(
            &thread, nil,
            { raw in
                Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().run()
                return nil
            }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        handles.append(thread)
    }
    body(0)
    for thread in handles { pthread_join(thread, nil) }
}

final class Box: @unchecked Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}
