import Foundation
import Hummingbird
import LIMSCore
import QueueCore
import QueueServer

/// Samples: the list and the sample page with its analyses and senaite.queue's queued notice. Each user sees the
/// samples the `allowedRolesAndUsers` rule lets them see (lab staff all, client users their client's).
/// Source: senaite.core samples listing and sample view, senaite.queue listing adapter and viewlet, reference 1.9-1.10.
extension WebUI {
    /// Rows per page of the samples list.
    static let samplesPageSize = 50

    /// `GET /samples[?page=N]`: newest first; queued samples shown as Queued with a spinner.
    @Sendable func samplesList(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, state) = try await signedIn(context)
        let visible = try await repository.search(.sample, visibleTo: user).compactMap { state.samples[$0] }
            .sorted { ($0.created, $0.id) > ($1.created, $1.id) }
        let queued = try await queuedUIDs()
        let pageCount = max(1, (visible.count + Self.samplesPageSize - 1) / Self.samplesPageSize)
        let page = min(max(1, Int(request.uri.queryParameters.get("page") ?? "") ?? 1), pageCount)
        let rows: [[String: Any]] = visible.dropFirst((page - 1) * Self.samplesPageSize).prefix(Self.samplesPageSize).map { sample in
            [
                "uid": sample.uid, "id": sample.id, "client": state.clients[sample.clientUID]?.name ?? "",
                "sampleType": state.sampleTypes[sample.sampleTypeUID]?.title ?? "",
                "count": state.analyses(ofSample: sample.uid).count, "created": Self.dateText(sample.created),
                "state": sample.reviewState, "queued": queued.contains(sample.uid),
            ]
        }
        let data: [String: Any] = [
            "rows": rows, "total": visible.count,
            "pages": Self.pages(total: visible.count, pageSize: Self.samplesPageSize, current: page) { "/samples?page=\($0)" },
        ]
        let chrome = await chrome(request, user: user, state: state, tab: "samples")
        return renderer.page("samples", title: "Samples", chrome: chrome, data: data)
    }

    /// `GET /samples/<uid>`: the sample, its analyses, and "N analyses are being processed in background" while any
    /// of them is queued or running.
    @Sendable func samplePage(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, state) = try await signedIn(context)
        let uid = context.parameters.get("uid") ?? ""
        guard let sample = state.samples[uid], try await repository.search(.sample, visibleTo: user).contains(uid) else {
            throw WebError.notFound("No sample with uid \(uid).")
        }
        let queued = try await queuedUIDs()
        let analyses = state.analyses(ofSample: uid)
        let rows: [[String: Any]] = analyses.map { analysis in
            var row: [String: Any] = [
                "uid": analysis.uid, "title": state.analysisServices[analysis.serviceUID]?.title ?? analysis.keyword,
                "keyword": analysis.keyword, "result": analysis.result ?? "", "state": analysis.reviewState,
                "analyst": analysis.analyst ?? "", "queued": queued.contains(analysis.uid),
            ]
            if let worksheet = analysis.worksheetUID.flatMap({ state.worksheets[$0] }) {
                row["worksheetUID"] = worksheet.uid
                row["worksheetID"] = worksheet.id
            }
            return row
        }
        let count = analyses.filter { queued.contains($0.uid) }.count
        var data: [String: Any] = [
            "uid": uid, "id": sample.id, "state": sample.reviewState, "client": state.clients[sample.clientUID]?.name ?? "",
            "contact": state.contacts[sample.contactUID]?.fullname ?? "",
            "sampleType": state.sampleTypes[sample.sampleTypeUID]?.title ?? "", "priority": sample.priority,
            "created": Self.dateText(sample.created), "rows": rows,
        ]
        if count > 0 {
            data["queuedCount"] = count
            data["queuedText"] = Self.backgroundText(count)
        }
        let chrome = await chrome(request, user: user, state: state, tab: "samples",
                                  refreshSeconds: count > 0 ? Self.backgroundRefreshSeconds : nil)
        return renderer.page("sample", title: "Sample \(sample.id)", chrome: chrome, data: data)
    }
}
