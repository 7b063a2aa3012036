// The command line's parser: options and subcommands as `optionTable` (Options.swift) defines
// them, and the usage error that ends a run with status 64.

/// A usage error: exit 64 with the message, a usage line and a hint.
struct UsageError: Error {
    let message: String
    let command: Subcommand?
}

/// The parsed command line.
struct ParsedCommand {
    var command: Subcommand?
    var positionals: [String] = []
    /// Long name → value ("" for a flag).
    var values: [String: String] = [:]
    var help = false
    var version = false

    func flag(_ name: String) -> Bool { values[name] != nil }
    func string(_ name: String) -> String? { values[name] }

    /// The integer value of `--name`, nil when absent; a usage error when it is not in the
    /// option's range (`optionTable`).
    func optionalInt(_ name: String) throws(UsageError) -> Int? {
        guard let text = values[name] else { return nil }
        guard let spec = optionTable.first(where: { $0.long == name }), let range = spec.range else {
            preconditionFailure("--\(name) is not an integer option of optionTable")
        }
        guard let v = Int(text), range.contains(v) else {
            throw UsageError(
                message: "--\(name) expects an integer in \(spec.rangeText!), got '\(text)'", command: command)
        }
        return v
    }

    /// The integer value of `--name`, its default (`optionTable`) when absent.
    func int(_ name: String) throws(UsageError) -> Int {
        if let v = try optionalInt(name) { return v }
        guard let fallback = optionTable.first(where: { $0.long == name })?.fallback else {
            preconditionFailure("--\(name) has no default in optionTable")
        }
        return fallback
    }

    /// The value of `--name`, which must be one of `choices`.
    func choice(_ name: String, _ choices: [String], _ fallback: String?) throws(UsageError) -> String? {
        guard let text = values[name] else { return fallback }
        guard choices.contains(text) else {
            throw UsageError(
                message: "--\(name) expects one of \(choices.joined(separator: ", ")), got '\(text)'", command: command)
        }
        return text
    }
}

enum CommandLineParser {
    static func parse(_ args: [String]) throws(UsageError) -> ParsedCommand {
        var parsed = ParsedCommand()
        var i = 0
        var onlyPositionals = false
        while i < args.count {
            let arg = args[i]
            i += 1
            // "-1" is a (negative) number, not an option: no option is a digit.
            let isNumber = arg.count > 1 && arg.dropFirst().allSatisfy(\.isASCII) && Int(arg) != nil
            if onlyPositionals || arg == "-" || !arg.hasPrefix("-") || isNumber {
                if parsed.command == nil && !onlyPositionals {
                    guard let sub = Subcommand(rawValue: arg) else {
                        throw UsageError(message: "unknown subcommand '\(arg)'", command: nil)
                    }
                    parsed.command = sub
                } else {
                    parsed.positionals.append(arg)
                }
                continue
            }
            if arg == "--" {
                onlyPositionals = true
                continue
            }
            if arg == "-h" || arg == "--help" {
                parsed.help = true
                continue
            }
            if arg == "--version" {
                parsed.version = true
                continue
            }
            // --name, --name=value, -x, -x value, -xVALUE
            var spec: OptionSpec?
            var inline: String?
            if arg.hasPrefix("--") {
                let body = arg.dropFirst(2)
                let name: Substring
                if let eq = body.firstIndex(of: "=") {
                    name = body[..<eq]
                    inline = String(body[body.index(after: eq)...])
                } else {
                    name = body
                }
                spec = optionTable.first { $0.long == name }
                if spec == nil { throw UsageError(message: "unknown option '--\(name)'", command: parsed.command) }
            } else {
                let letter = arg.dropFirst().first!
                spec = optionTable.first { $0.short == letter }
                if spec == nil { throw UsageError(message: "unknown option '-\(letter)'", command: parsed.command) }
                let rest = arg.dropFirst(2)
                if !rest.isEmpty {
                    if spec!.value == nil {
                        throw UsageError(message: "option '-\(letter)' takes no value", command: parsed.command)
                    }
                    inline = String(rest)
                }
            }
            let option = spec!
            guard let command = parsed.command else {
                throw UsageError(message: "option '\(arg)' before the subcommand", command: nil)
            }
            guard option.commands.contains(command) else {
                throw UsageError(
                    message: "option '--\(option.long)' does not apply to '\(command.rawValue)'", command: command)
            }
            if option.value == nil {
                if inline != nil {
                    throw UsageError(message: "option '--\(option.long)' takes no value", command: command)
                }
                parsed.values[option.long] = ""
            } else if let inline {
                parsed.values[option.long] = inline
            } else {
                guard i < args.count else {
                    throw UsageError(
                        message: "option '--\(option.long)' needs a value (\(option.value!))", command: command)
                }
                parsed.values[option.long] = args[i]
                i += 1
            }
        }
        return parsed
    }
}
