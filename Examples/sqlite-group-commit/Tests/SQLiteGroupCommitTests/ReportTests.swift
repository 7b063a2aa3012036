// The report format: fixed width, and what is written is what is read.

import Testing

@testable import sqlite_group_commit

struct ReportTests {
    @Test func linesRoundTrip() {
        let lines = [
            ReportLine(outcome: .submitted, seq: 7),
            ReportLine(
                outcome: .ok, seq: 7, latencyMicroseconds: 1234,
                receipt: BatchReceipt(batch: 0x5e3a_0000_0004, size: 6),
                busyErrors: 2),
            ReportLine(outcome: .workerCrashed, seq: 8, latencyMicroseconds: 99),
            ReportLine(outcome: .outcomeUnknown, seq: 9, latencyMicroseconds: Int(Int32.max)),
        ]
        let bytes = lines.flatMap(\.bytes)
        #expect(bytes.count == lines.count * ReportLine.width)
        #expect(ReportLine.parse(bytes) == lines)
    }

    @Test func aTornLastLineIsIgnored() {
        let line = ReportLine(outcome: .submitted, seq: 1)
        #expect(ReportLine.parse(line.bytes + line.bytes.prefix(10)) == [line])
    }

    @Test func theWidestLineFits() {
        let line = ReportLine(
            outcome: .outcomeUnknown, seq: 999_999, latencyMicroseconds: Int(Int64.max / 1000),
            receipt: BatchReceipt(batch: .max, size: .max), busyErrors: 1_000_000)
        #expect(line.bytes.count == ReportLine.width)
    }
}
