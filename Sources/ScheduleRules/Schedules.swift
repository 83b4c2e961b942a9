// Schedules: pure logic for schedule synchronization (seed 004, "Schedule Synchronization", Table 3).
//
// - `JobName`: the job name rule.
// - `ScheduleFrequency`, `ScheduleTiming`, `DueRuns`: one time or every N hours, days or weeks; when a
//   schedule is due next, and what the coordinator fires after being away.
// - `ScheduleStart`: the start date and time as typed on the command line.
// - `GranularSync`: the custom granular synchronization text, checked line by line.
// - `SyncPlan`: what a run synchronizes, in order, given a builder choice or granular text and the
//   inventory (`InventoryCatalog`) — the preview and the coordinator use the same expansion.
//
// No database here: the callers hand in the inventory and store the results.


/// Character rules shared by the parsers. The seed accepts ASCII only ("A-Z, a-z, 0-9"), so a letter
/// from another script is refused rather than guessed at.
enum NameCharacters {
    static func isASCIILetterOrDigit(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "A"..."Z", "a"..."z", "0"..."9": return true
        default: return false
        }
    }

    /// Device and directory names (seed: "space, alphanumeric characters (A-Z, a-z, 0-9), underscore (_),
    /// hyphen (-), period (.), and at sign (@)").
    static func isValidObjectName(_ name: String) -> Bool {
        name.unicodeScalars.allSatisfy { isASCIILetterOrDigit($0) || " _-.@".unicodeScalars.contains($0) }
    }

    /// Job names (Table 3: "alphanumeric(A-Z, a-z, 0-9), space, underscore(_), and hyphen(-)").
    static func isValidJobName(_ name: String) -> Bool {
        name.unicodeScalars.allSatisfy { isASCIILetterOrDigit($0) || " _-".unicodeScalars.contains($0) }
    }
}
