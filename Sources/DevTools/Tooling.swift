import ArgumentParser
import Queue
import UCPCommands

/// What `ucp` carries beside the operator commands: the demo, the benchmarks, the simulators'
/// commands, and the stand-in job types of tests and the demo.
public func devTooling() -> Tooling {
    Tooling(
        subcommands: [DemoCommand.self, BenchCommand.self, DevsimCommand.self, LDAPSimulatorCommand.self],
        standInContracts: StandInJobs.contracts,
        installStandIns: { specs, registry in
            try StandInJobs(parsing: specs).install(in: &registry)
        })
}
