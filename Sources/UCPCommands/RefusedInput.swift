import ArgumentParser
import Directory
import Foundation
import Inventory
import Schedules

/// Refusals from the stores (a device, a schedule) are bad input: exit status 64 with one line on
/// standard error, or one line per bad granular line.
enum RefusedInput {
    static func translate(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as DeviceError {
            throw ValidationError(error.message)
        } catch let error as DomainError {
            throw ValidationError(error.message)
        } catch let error as DirectoryInputError {
            throw ValidationError(error.description)
        } catch let error as ScheduleError {
            if error.messages.count == 1 { throw ValidationError(error.messages[0]) }
            for message in error.messages {
                FileHandle.standardError.write(Data("ucp: \(message)\n".utf8))
            }
            throw ExitCode.validationFailure
        }
    }
}
