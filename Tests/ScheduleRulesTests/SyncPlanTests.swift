import XCTest
import JobCatalog
import ScheduleRules

final class SyncPlanTests: XCTestCase {
    private let catalog = InventoryCatalog(
        callProcessors: ["CUCM-A", "CUCM-B", "Test-UCM"],
        messageProcessors: ["Unity-1"],
        presenceProcessors: ["IMP-1", "IMP-2"],
        ldapDirectories: ["Corp LDAP", "Lab LDAP"],
        domains: ["Test-Dom", "Sales", "Support"],
        ldapDomainsByDirectory: ["Corp LDAP": ["Sales", "Support"]])

    /// "kind class target @line" — compact and exact.
    private func summary(_ plan: SyncPlan) -> [String] {
        plan.syncs.map { "\($0.kind.rawValue) \($0.objectClass.rawValue) \($0.target) @\($0.line.map(String.init) ?? "-")" }
    }

    func testMixedTextPlansInTheSeedsOrderWithWarnings() throws {
        let text = """
        # nightly
        domain.Test-Dom:
        cp.Test-UCM: infra
        mp.all: both
        cp.test-ucm: sub
        cp.all: sub
        pp.all: both
        ad.all:
        cp.Ghost: both
        pp.IMP-2: sub
        cp.Test-UCM: both
        domain.all:
        ad.Other:
        """
        let plan = SyncPlan(granular: try GranularSync(parsing: text), catalog: catalog)
        XCTAssertEqual(summary(plan), [
            "infra cp Test-UCM @3",
            "infra mp Unity-1 @4",
            "infra pp IMP-1 @7",
            "infra pp IMP-2 @7",
            "user cp CUCM-A @6",
            "user cp CUCM-B @6",
            "user cp Test-UCM @6",
            "user mp Unity-1 @4",
            "ldap ad Sales @8",
            "ldap ad Support @8",
            "domain domain Test-Dom @2",
            "domain domain Sales @12",
            "domain domain Support @12",
        ])
        XCTAssertEqual(plan.warnings.map(\.description), [
            "line 5: no call processor named 'test-ucm' (did you mean 'Test-UCM'?)",
            "line 8: no domain synchronizes users from LDAP directory 'Lab LDAP'",
            "line 9: no call processor named 'Ghost'",
            "line 10: user sync is disabled for IM and Presence 9.0 and later (users come from the call processors), so this line synchronizes nothing",
            "line 13: no LDAP directory named 'Other'",
        ])
    }

    func testFirstOccurrenceKeepsItsPlaceWithinAPhase() throws {
        let plan = SyncPlan(granular: try GranularSync(parsing: "cp.CUCM-B: sub\ncp.all: both\nmp.Unity-1: infra\ncp.Test-UCM: infra"), catalog: catalog)
        XCTAssertEqual(summary(plan), [
            "infra cp CUCM-A @2", "infra cp CUCM-B @2", "infra cp Test-UCM @2",
            "infra mp Unity-1 @3",
            "user cp CUCM-B @1", "user cp CUCM-A @2", "user cp Test-UCM @2",
        ])
        XCTAssertEqual(plan.warnings, [])
    }

    func testAllLineOfAnEmptyClassWarns() throws {
        let small = InventoryCatalog(callProcessors: ["CUCM-A"])
        let plan = SyncPlan(granular: try GranularSync(parsing: "mp.all: both\ncp.all: infra\nad.all:\ndomain.all:"), catalog: small)
        XCTAssertEqual(summary(plan), ["infra cp CUCM-A @2"])
        XCTAssertEqual(plan.warnings.map(\.description), [
            "line 1: no message processors to synchronize",
            "line 3: no LDAP directories to synchronize",
            "line 4: no domains to synchronize",
        ])
    }

    func testPresenceProcessorsGetInfrastructureSyncOnly() throws {
        let plan = SyncPlan(granular: try GranularSync(parsing: "pp.IMP-1: both\npp.all: sub\npp.Nope: sub"), catalog: catalog)
        XCTAssertEqual(summary(plan), ["infra pp IMP-1 @1"])
        XCTAssertEqual(plan.warnings.map(\.description), [
            "line 2: user sync is disabled for IM and Presence 9.0 and later (users come from the call processors), so this line synchronizes nothing",
            "line 3: no presence processor named 'Nope'",
        ])
    }

    func testNothingToDoIsSaid() throws {
        let plan = SyncPlan(granular: try GranularSync(parsing: "cp.Ghost: infra"), catalog: catalog)
        XCTAssertEqual(plan.syncs, [])
        XCTAssertEqual(plan.warnings.map(\.description), ["line 1: no call processor named 'Ghost'", "nothing to synchronize"])
    }

    func testBuilderAllRunsBothSyncsForEveryProcessor() {
        let plan = SyncPlan(selection: .builder([.all]), catalog: catalog)
        XCTAssertEqual(summary(plan), [
            "infra cp CUCM-A @-", "infra cp CUCM-B @-", "infra cp Test-UCM @-",
            "infra mp Unity-1 @-",
            "infra pp IMP-1 @-", "infra pp IMP-2 @-",
            "user cp CUCM-A @-", "user cp CUCM-B @-", "user cp Test-UCM @-",
            "user mp Unity-1 @-",
            "ldap ad Sales @-", "ldap ad Support @-",
            "domain domain Test-Dom @-", "domain domain Sales @-", "domain domain Support @-",
        ])
        XCTAssertEqual(plan.warnings, [], "builder All passes quietly over a directory no domain uses")
    }

    func testBuilderAllIsTheSameAsTheGranularMassSyncs() throws {
        let granular = try GranularSync(parsing: "cp.all: both\nmp.all: both\npp.all: both\nad.all:\ndomain.all:")
        let fromText = SyncPlan(selection: .granular(granular), catalog: catalog)
        let fromBuilder = SyncPlan(selection: .builder([.all]), catalog: catalog)
        XCTAssertEqual(fromText.syncs.map { "\($0.kind) \($0.target)" }, fromBuilder.syncs.map { "\($0.kind) \($0.target)" })
    }

    func testBuilderChoicesCombineInRunOrder() {
        let plan = SyncPlan(builder: [.domains, .presenceProcessors, .messageProcessors], catalog: catalog)
        XCTAssertEqual(summary(plan), [
            "infra mp Unity-1 @-", "infra pp IMP-1 @-", "infra pp IMP-2 @-", "user mp Unity-1 @-",
            "domain domain Test-Dom @-", "domain domain Sales @-", "domain domain Support @-",
        ])
    }

    func testBuilderNamesAnEmptyClassButAllStaysQuiet() {
        let empty = InventoryCatalog()
        XCTAssertEqual(SyncPlan(builder: [.all], catalog: empty).warnings.map(\.description), ["nothing to synchronize"])
        XCTAssertEqual(SyncPlan(builder: [.messageProcessors, .ldapDirectories], catalog: empty).warnings.map(\.description),
                       ["no message processors to synchronize", "no LDAP directories to synchronize", "nothing to synchronize"])
    }

    func testPreviewLines() throws {
        let plan = SyncPlan(granular: try GranularSync(parsing: "cp.Test-UCM: both\nad.Nope:\ndomain.Sales:\nad.Corp LDAP:\nad.Lab LDAP:"),
                            catalog: catalog)
        XCTAssertEqual(plan.previewLines, [
            "1. infrastructure synchronization of call processor 'Test-UCM'",
            "2. user synchronization of call processor 'Test-UCM'",
            "3. LDAP synchronization of domain 'Sales' from LDAP directory 'Corp LDAP'",
            "4. LDAP synchronization of domain 'Support' from LDAP directory 'Corp LDAP'",
            "5. domain synchronization of domain 'Sales'",
            "warning: line 2: no LDAP directory named 'Nope'",
            "warning: line 5: no domain synchronizes users from LDAP directory 'Lab LDAP'",
        ])
    }

    func testPreviewOfTextWithBadLinesPlansTheGoodOnes() {
        let check = GranularSync.check("cp.Test-UCM: infra\ncp.Test-UCM: full\nmp.all: sub")
        XCTAssertEqual(check.errors.map(\.description), ["line 2: sync type 'full' is not one of infra, sub, both"])
        let plan = SyncPlan(entries: check.entries, catalog: catalog)
        XCTAssertEqual(summary(plan), ["infra cp Test-UCM @1", "user mp Unity-1 @3"])
    }

    func testBuilderWords() throws {
        XCTAssertEqual(try ScheduleBuilderChoice(parsing: "ldap"), .ldapDirectories)
        XCTAssertEqual(try ScheduleBuilderChoice(parsing: "pp").title, "All IMPs")
        XCTAssertEqual(ScheduleBuilderChoice.allCases.map(\.rawValue), ["all", "cp", "mp", "pp", "ldap", "domain"])
        XCTAssertThrowsError(try ScheduleBuilderChoice(parsing: "ad")) { error in
            XCTAssertEqual("\(error)", "builder: unknown choice 'ad' (use all, cp, mp, pp, ldap or domain)")
        }
    }

    func testKindRawValuesMatchSyncJobTypes() {
        // A planned sync's kind is the catalog's sync type: the seed's order, and the job type each runs as.
        XCTAssertEqual(SyncType.allCases.map(\.rawValue), ["infra", "user", "ldap", "domain"])
        XCTAssertEqual(SyncType.allCases.map(\.jobType), ["sync.infra", "sync.user", "sync.ldap", "sync.domain"])
    }
}
