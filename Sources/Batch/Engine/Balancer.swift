import CBatchCore

/// Not API: a ``Multi`` balancer with the bitset it is shown, reused from call to call so that
/// balancing allocates nothing.
public final class _Balancer: @unchecked Sendable {
    // @unchecked Sendable: both fields are read and written only under the home's lock.
    /// The user's choice function, `nil` for "first free". Under the home's lock.
    @usableFromInline var pick: (@Sendable (_ free: [UInt64]) -> Int)?
    /// Bit `n` of the set: coach `n` is free. Under the home's lock.
    @usableFromInline var words: [UInt64]

    @inlinable
    public init(coaches: Int) {
        self.pick = nil
        self.words = Array(repeating: 0, count: (coaches + 63) / 64)
    }

    /// Under the lock: fills the set from the coaches; returns whether any coach is free.
    @inlinable
    func fill<Home>(_ engine: _BatchEngine<Home>) -> Bool {
        var any = false
        for w in words.indices { words[w] = 0 }
        for c in 0..<engine.coachCount where engine.isFree(c) {
            words[c / 64] |= 1 << UInt64(c % 64)
            any = true
        }
        return any
    }
}
