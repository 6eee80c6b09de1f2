import Foundation
import Hummingbird
import LabActions
import LIMSCore
import LimsAPI
import QueueCore
import QueueServer

/// The server-rendered web pages: login, the queue monitor, the queue settings, worksheets and samples.
///
/// Plain HTML forms that work without JavaScript (a few lines of script only refresh the monitor and pages with
/// work in the background); every form carries a CSRF token checked on every POST (403 otherwise); every page
/// checks the user's role. Pages are rendered with swift-mustache from the templates in ``PageTemplates``.
///
/// Routes (all at the site root, beside the JSON APIs under `/@@API/senaite/v1/`):
/// - `GET|POST /login`, `POST /logout`, `GET /` (home: worksheets).
/// - `GET|POST /queue_tasks`, `GET /queue_tasks/<task_uid>` (Manage queue: Manager, LabManager).
/// - `GET|POST /queue-controlpanel`, `POST /queue-controlpanel/auth-key` (Manage queue).
/// - `GET|POST /worksheets`, `GET|POST /worksheets/<uid>`, `GET|POST /worksheets/<uid>/add` (lab staff).
/// - `GET /samples`, `GET /samples/<uid>` (users who may see them).
/// - `GET|POST /my_tasks`: the user's own background work (every signed-in user).
/// - `GET|POST /users` (lab managers), `GET|POST /password` (every user): user accounts.
///
/// Source: senaite.queue's views and viewlets, reference 1.7-1.10.
public struct WebUI: Sendable {
    let repository: any LabRepository
    let queue: any QueueStore
    let clock: any WallClock
    let session: WebSession
    let renderer: PageRenderer
    let serverStatus: ServerStatusProbe
    let actions: LabActions
    let authKeyControl: AuthKeyControl
    let uids: any UIDGenerator
    /// When each consumer last polled this process's queue server (empty on a web node).
    let consumerPolls: @Sendable () -> [String: Double]
    /// The monitor's aggregates of the last hour's history (chart, per task name, consumers last seen), shared by the
    /// views of the same 3 seconds: every open monitor reloads every 5.
    let monitorWindow = RecentResults<Int, MonitorWindow>(maxAge: 3)

    /// - Parameters:
    ///   - repository: the lab.
    ///   - queue: the queue store (monitor, settings, queued notices).
    ///   - authKey: the queue auth key, read per request (session cookies are Fernet tokens of it; CSRF tokens
    ///     are HMACs keyed by it).
    ///   - clock: wall clock (epoch seconds).
    ///   - lims: the LIMS JSON API controller whose sessions and login rate limit the pages share. Default: one of
    ///     their own over the same repository, key and clock (sessions shared, login limits not).
    ///   - authKeyControl: how the settings page regenerates the auth key. Default: not possible.
    ///   - probe: how the server status banner checks `{server}/@@API/senaite/v1/version` (1 s timeout).
    ///     Default: an HTTP GET with AsyncHTTPClient.
    ///   - uids: generator of new object uids. Default: ``TimeOrderedUIDGenerator``.
    ///   - consumerPolls: when each consumer last asked the queue server of this process for work (the monitor's
    ///     "last seen" of idle consumers). Default: none known.
    public init(repository: any LabRepository, queue: any QueueStore, authKey: @escaping @Sendable () async -> String,
                clock: any WallClock, lims: LimsAPIController? = nil,
                authKeyControl: AuthKeyControl = .unavailable("this server cannot store a new key"),
                probe: @escaping ServerStatusProbe.Probe = ServerStatusProbe.httpProbe,
                uids: any UIDGenerator = TimeOrderedUIDGenerator(),
                consumerPolls: @escaping @Sendable () -> [String: Double] = { [:] }) {
        self.consumerPolls = consumerPolls
        self.repository = repository
        self.queue = queue
        self.clock = clock
        let lims = lims ?? LimsAPIController(repository: repository, authKey: authKey, clock: clock, uids: uids, queue: queue)
        self.session = WebSession(lims: lims, repository: repository, authKey: authKey, clock: clock)
        self.renderer = PageRenderer.shared
        self.serverStatus = ServerStatusProbe(probe: probe)
        self.actions = lims.actions
        self.authKeyControl = authKeyControl
        self.uids = uids
    }

    /// Mounts every page on `router`.
    public func addRoutes(to router: Router<QueueRequestContext>) {
        router.add(middleware: PageNotFoundMiddleware())
        router.get("login", use: loginPage)
        router.post("login", use: login)
        let pages = router.group().add(middleware: WebSessionMiddleware(session: session))
        pages.post("logout", use: logout)
        pages.get("/", use: home)
        pages.get("queue_tasks", use: queueMonitor)
        pages.post("queue_tasks", use: queueMonitorAction)
        pages.get("queue_tasks/:task_uid", use: queueTaskDetail)
        pages.get("queue-controlpanel", use: controlPanel)
        pages.post("queue-controlpanel", use: saveControlPanel)
        pages.post("queue-controlpanel/auth-key", use: regenerateAuthKey)
        pages.get("worksheets", use: worksheetsList)
        pages.post("worksheets", use: worksheetsAction)
        pages.get("worksheets/:uid", use: worksheetPage)
        pages.post("worksheets/:uid", use: worksheetAction)
        pages.get("worksheets/:uid/add", use: addAnalysesPage)
        pages.post("worksheets/:uid/add", use: addAnalysesAction)
        pages.get("samples", use: samplesList)
        pages.get("samples/:uid", use: samplePage)
        pages.get("users", use: usersPage)
        pages.post("users", use: usersAction)
        pages.get("password", use: passwordPage)
        pages.post("password", use: passwordAction)
        pages.get("my_tasks", use: myTasksPage)
        pages.post("my_tasks", use: myTasksAction)
    }

    /// `GET /`: the worksheets list for lab staff, the samples list for client users.
    @Sendable func home(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, state) = try await signedIn(context)
        return Response.redirect(to: Self.isLabStaff(user, in: state) ? "/worksheets" : "/samples", type: .found)
    }
}
