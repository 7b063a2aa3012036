// A tiny JSON writer: the demo prints one object, keys in the order given.

enum JSONValue {
    case int(Int)
    case double(Double)
    case bool(Bool)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])
    case null

    var text: String {
        switch self {
        case .int(let v): return String(v)
        case .double(let v):
            if !v.isFinite { return "null" }
            return String((v * 1000).rounded() / 1000)
        case .bool(let v): return v ? "true" : "false"
        case .string(let s): return JSONValue.quote(s)
        case .array(let a): return "[" + a.map(\.text).joined(separator: ",") + "]"
        case .object(let o): return "{" + o.map { JSONValue.quote($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        case .null: return "null"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
