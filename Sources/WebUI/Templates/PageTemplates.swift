/// The Mustache templates of the web pages, one constant per page (files in this folder), compiled once by
/// ``PageRenderer``. `{{x}}` escapes HTML; `{{{x}}}` is used only for markup the server built itself (the
/// page body inside the layout, the SVG chart).
enum PageTemplates {
    /// Every template by name.
    static var all: [String: String] {
        [
            "layout": layout, "login": login, "error": error, "confirm": confirm,
            "queue_tasks": queueTasks, "queue_task": queueTask, "controlpanel": controlPanel,
            "worksheets": worksheets, "worksheet": worksheet, "samples": samples, "sample": sample, "my_tasks": myTasks, "add_analyses": addAnalyses, "users": users, "password": password,
        ]
    }
}
