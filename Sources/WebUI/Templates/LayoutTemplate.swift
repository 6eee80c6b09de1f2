extension PageTemplates {
    /// The frame of every page: navigation bar, the server status banner (managers), the flash message, the
    /// page body, and the auto-refresh script when the page asks for one.
    static let layout = #"""
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}} — LimsQueue</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #222; background: #f6f7f9; font-size: 14px; }
nav { background: #23395d; color: #fff; padding: 0 16px; display: flex; align-items: center; gap: 4px; min-height: 44px; flex-wrap: wrap; }
nav .brand { font-weight: 700; margin-right: 16px; }
nav a { color: #dbe6f7; text-decoration: none; padding: 12px 10px; display: inline-block; }
nav a.active, nav a:hover { color: #fff; background: #35507d; }
nav .spacer { flex: 1; }
nav form { margin: 0; }
nav button { background: transparent; color: #dbe6f7; border: 1px solid #5f7aa6; border-radius: 3px; padding: 4px 10px; cursor: pointer; }
main { padding: 16px 24px; max-width: 1280px; }
h1 { font-size: 22px; margin: 4px 0 12px; }
h2 { font-size: 17px; margin: 20px 0 8px; }
.banner { padding: 8px 24px; border-bottom: 1px solid; }
.banner-ok { background: #e8f5e9; border-color: #a5d6a7; color: #1b5e20; }
.banner-warning { background: #fff3e0; border-color: #ffb74d; color: #8a4b00; }
.banner-error { background: #ffebee; border-color: #ef9a9a; color: #b71c1c; }
.flash { margin: 0 0 12px; padding: 8px 12px; border-radius: 4px; border: 1px solid; }
.flash-ok { background: #e8f5e9; border-color: #a5d6a7; }
.flash-error { background: #ffebee; border-color: #ef9a9a; }
.notice { background: #e3f2fd; border: 1px solid #90caf9; padding: 10px 12px; border-radius: 4px; margin: 0 0 12px; }
table.listing { border-collapse: collapse; width: 100%; background: #fff; }
table.listing th, table.listing td { border-bottom: 1px solid #e2e5ea; padding: 5px 8px; text-align: left; vertical-align: top; }
table.listing th { background: #eef1f5; font-weight: 600; }
table.listing tr.disabled td { color: #888; background: #fafafa; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.state { display: inline-block; padding: 1px 6px; border-radius: 3px; font-size: 12px; background: #eceff1; }
.state-queued { background: #e3f2fd; color: #0d47a1; }
.state-running { background: #e8f5e9; color: #1b5e20; }
.state-failed { background: #ffebee; color: #b71c1c; }
.state-ghost { text-decoration: line-through; }
.spinner { display: inline-block; width: 11px; height: 11px; border: 2px solid #90caf9; border-top-color: #0d47a1; border-radius: 50%; animation: spin 0.9s linear infinite; vertical-align: -2px; margin-right: 4px; }
@keyframes spin { to { transform: rotate(360deg); } }
.filters a { margin-right: 12px; }
.filters a.active { font-weight: 700; text-decoration: none; color: #222; }
.buttons { margin: 8px 0; display: flex; gap: 8px; align-items: center; }
button, input[type=submit] { font: inherit; padding: 5px 12px; border: 1px solid #8a99b0; border-radius: 3px; background: #fff; cursor: pointer; }
button.primary { background: #23395d; color: #fff; border-color: #23395d; }
button.danger { background: #b71c1c; color: #fff; border-color: #b71c1c; }
.form-row { margin: 0 0 12px; }
.form-row label { display: block; font-weight: 600; margin-bottom: 2px; }
.form-row .help { color: #666; font-size: 12px; margin-top: 2px; }
.form-row .error { color: #b71c1c; font-weight: 600; margin-top: 2px; }
.form-row.invalid input, .form-row.invalid textarea { border-color: #b71c1c; background: #fff5f5; }
input[type=text], input[type=password], input[type=number], select, textarea { font: inherit; padding: 4px 6px; border: 1px solid #b0b8c4; border-radius: 3px; min-width: 260px; }
.stats { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 12px; }
.card { background: #fff; border: 1px solid #e2e5ea; border-radius: 4px; padding: 8px 12px; }
.card .big { font-size: 22px; font-weight: 700; }
.card .label { color: #666; font-size: 12px; }
.pager { margin: 8px 0; }
.pager a, .pager span { margin-right: 8px; }
.muted { color: #777; }
</style>
</head>
<body>
<nav>
<span class="brand">LimsQueue</span>
{{#user}}
{{#isLabStaff}}<a href="/worksheets" {{#nav.worksheets}}class="active"{{/nav.worksheets}}>Worksheets</a>{{/isLabStaff}}
<a href="/samples" {{#nav.samples}}class="active"{{/nav.samples}}>Samples</a>
<a href="/my_tasks" {{#nav.my_tasks}}class="active"{{/nav.my_tasks}}>My work</a>
{{#canManageQueue}}
<a href="/queue_tasks" {{#nav.queue}}class="active"{{/nav.queue}}>Queue monitor</a>
<a href="/queue-controlpanel" {{#nav.settings}}class="active"{{/nav.settings}}>Queue settings</a>
{{/canManageQueue}}
{{/user}}
<span class="spacer"></span>
{{#user}}
{{#canManageQueue}}<a href="/users" {{#nav.users}}class="active"{{/nav.users}}>Users</a>{{/canManageQueue}}
<a href="/password" id="current-user" {{#nav.password}}class="active"{{/nav.password}} title="Change password">{{fullname}} ({{userid}})</a>
<form method="post" action="/logout"><input type="hidden" name="_csrf" value="{{csrf}}"><button type="submit" id="logout">Log out</button></form>
{{/user}}
</nav>
{{#banner}}<div class="banner banner-{{level}}" id="server-status" data-status="{{status}}">{{message}}{{#settingsLink}} <a href="/queue-controlpanel">Queue settings</a>{{/settingsLink}}</div>{{/banner}}
<main>
{{#flash}}<div class="flash flash-{{kind}}" id="flash">{{text}}</div>{{/flash}}
{{#failedWork}}<div class="flash flash-error" id="failed-work"><b>Your background work failed ({{total}}):</b>
<ul>{{#items}}<li data-task="{{taskUID}}">{{name}} on {{context}} (task <span class="mono">{{shortUID}}</span>): {{error}}
<form method="post" action="/my_tasks" style="display: inline"><input type="hidden" name="_csrf" value="{{csrf}}"><input type="hidden" name="task_uid" value="{{taskUID}}"><input type="hidden" name="back" value="{{back}}">
<button type="submit" name="action" value="retry">Retry</button> <button type="submit" name="action" value="dismiss">Dismiss</button></form></li>{{/items}}</ul>
{{#more}}<a href="/my_tasks">All of it</a>{{/more}}</div>{{/failedWork}}
{{{body}}}
</main>
{{#refreshSeconds}}
<script>
// Auto-refresh (the only script of the site): reloads every {{refreshSeconds}} s unless a row is selected
// or a field is being edited.
setInterval(function () {
  var busy = document.querySelector('input[type=checkbox]:checked') ||
             (document.activeElement && ['INPUT', 'TEXTAREA', 'SELECT'].indexOf(document.activeElement.tagName) >= 0 &&
              document.activeElement.type !== 'checkbox');
  if (!busy) { window.location.reload(); }
}, {{refreshSeconds}} * 1000);
</script>
{{/refreshSeconds}}
</body>
</html>
"""#
}
