// Rows: identity and payload through a batch record and back.

import Testing

@testable import sqlite_group_commit

struct RowsTests {
    @Test func aRecordDecodesToItsRow() {
        let id = RowID(worker: 5, seq: 123_456)
        let payload = Rows.payload(id, size: 100)
        let record = Rows.record(id, payload: payload)
        record.withUnsafeBytes { bytes in
            let row = Rows.decode(bytes)
            #expect(row?.id == id)
            #expect(row.map { Array($0.payload) } == payload)
        }
    }

    @Test func payloadsDependOnTheIdentity() {
        let a = Rows.payload(RowID(worker: 1, seq: 2), size: 32)
        #expect(a == Rows.payload(RowID(worker: 1, seq: 2), size: 32))
        #expect(a != Rows.payload(RowID(worker: 2, seq: 1), size: 32))
        #expect(a != Rows.payload(RowID(worker: 1, seq: 3), size: 32))
    }

    @Test func aShortRecordIsNoRow() {
        [UInt8](repeating: 0, count: 7).withUnsafeBytes { #expect(Rows.decode($0) == nil) }
    }

    @Test func percentilesAreNearestRank() {
        var result = CheckResult()
        result.latencies = Array(1...100).map { $0 * 1000 }
        #expect(result.percentile(0.5) == 50)
        #expect(result.percentile(0.99) == 99)
        result.latencies = [7000]
        #expect(result.percentile(0.99) == 7)
    }
}
