// A small JSON writer: `--json` prints one object, its keys in the order given.

enum JSON {
    case int(Int)
    case number(Double)
    case bool(Bool)
    case string(String)
    case object([(String, JSON)])
    case array([JSON])
    case null

    var text: String {
        switch self {
        case .int(let value): return String(value)
        case .number(let value): return value.isFinite ? String((value * 1000).rounded() / 1000) : "null"
        case .bool(let value): return value ? "true" : "false"
        case .string(let value): return Self.quoted(value)
        case .object(let fields):
            return "{" + fields.map { Self.quoted($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        case .array(let items): return "[" + items.map(\.text).joined(separator: ",") + "]"
        case .null: return "null"
        }
    }

    private static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"", "\\": out += "\\" + String(scalar)
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
