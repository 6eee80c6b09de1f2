extension PageTemplates {
    /// The queue monitor: statistics, the chart, filters, and the task list with Requeue/Remove.
    /// Source: senaite.queue `queue_tasks` view, reference 1.8.
    static let queueTasks = #"""
<h1>Queue monitor</h1>
<div class="stats" id="queue-stats">
{{#statusCards}}<div class="card"><div class="big" id="count-{{key}}">{{count}}</div><div class="label">{{label}}</div></div>{{/statusCards}}
<div class="card"><div class="big" id="processed-per-minute">{{processedPerMinute}}</div><div class="label">processed per minute (last hour, {{processedLastHour}} in all)</div></div>
<div class="card"><div class="big" id="failures-last-hour">{{failuresLastHour}}</div><div class="label">failed attempts (last hour)</div></div>
</div>
<div class="card" id="queue-chart" style="margin-bottom: 12px">{{{chart}}}</div>
<div style="display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start">
<div style="flex: 2; min-width: 480px">
<h2>Per task name (last hour)</h2>
<table class="listing" id="per-name">
<tr><th>Name</th><th>Done</th><th>Failed</th><th>Retried</th><th>Wait mean</th><th>Wait p95</th><th>Run mean</th><th>Run p95</th></tr>
{{#perName}}<tr><td>{{name}}</td><td>{{done}}</td><td>{{failed}}</td><td>{{retried}}</td><td>{{waitMean}}</td><td>{{waitP95}}</td><td>{{runMean}}</td><td>{{runP95}}</td></tr>{{/perName}}
{{^perName}}<tr><td colspan="8" class="muted">No task finished in the last hour.</td></tr>{{/perName}}
</table>
</div>
<div style="flex: 1; min-width: 320px">
<h2>Consumers (last hour)</h2>
<table class="listing" id="consumers">
<tr><th>Consumer</th><th>Running now</th><th>Last seen</th></tr>
{{#consumers}}<tr><td class="mono" style="white-space: nowrap">{{id}}</td><td>{{#current}}{{name}} <span class="mono">{{shortUID}}</span> ({{since}}){{/current}}{{^current}}<span class="muted">idle</span>{{/current}}</td><td>{{lastSeen}}</td></tr>{{/consumers}}
{{^consumers}}<tr><td colspan="3" class="muted">No consumer seen in the last hour.</td></tr>{{/consumers}}
</table>
</div>
</div>
<h2>Tasks</h2>
<div class="filters" id="filters">{{#filters}}<a href="{{href}}" id="filter-{{key}}" {{#active}}class="active"{{/active}}>{{label}}</a>{{/filters}}</div>
<form method="post" action="/queue_tasks" id="tasks-form">
<input type="hidden" name="_csrf" value="{{csrf}}">
<input type="hidden" name="filter" value="{{filter}}">
<table class="listing" id="tasks">
<tr><th><input type="checkbox" id="select-all" aria-label="select every task on this page"></th><th>Task UID</th><th>Priority</th><th>Position</th><th>Created</th><th>Name</th><th>Context</th><th>Username</th><th>Status</th><th>Retries</th><th>Error</th></tr>
{{#rows}}
<tr class="{{#disabled}}disabled{{/disabled}}" data-task="{{taskUID}}" data-status="{{status}}">
<td>{{#selectable}}<input type="checkbox" name="uids" value="{{taskUID}}" aria-label="select {{shortUID}}">{{/selectable}}</td>
<td class="mono"><a href="/queue_tasks/{{taskUID}}">{{shortUID}}</a></td>
<td class="mono">{{priority}}</td>
<td class="mono">{{position}}</td>
<td>{{created}}</td>
<td>{{name}}</td>
<td>{{#contextHref}}<a href="{{contextHref}}">{{contextPath}}</a>{{/contextHref}}{{^contextHref}}{{contextPath}}{{/contextHref}}</td>
<td>{{username}}</td>
<td><span class="state state-{{status}} {{#ghost}}state-ghost{{/ghost}}">{{statusLabel}}</span></td>
<td>{{retries}}</td>
<td>{{error}}</td>
</tr>
{{/rows}}
{{^rows}}<tr><td colspan="11" class="muted">No tasks.</td></tr>{{/rows}}
</table>
<div class="pager" id="pager">{{total}} tasks. {{#pages}}{{#gap}}<span class="gap">…</span>{{/gap}}{{^gap}}{{#current}}<span><b>{{number}}</b></span>{{/current}}{{^current}}<a href="{{href}}">{{number}}</a>{{/current}}{{/gap}}{{/pages}}</div>
<div class="buttons">
<button type="submit" name="action" value="requeue" id="requeue">Requeue</button>
<button type="submit" name="action" value="remove" id="remove" class="danger">Remove</button>
<span class="muted">or every listed task ({{total}}, running ones left as they are):</span>
<button type="submit" name="scope" value="requeue-all" id="requeue-all">Requeue all listed</button>
<button type="submit" name="scope" value="remove-all" id="remove-all" class="danger">Remove all listed</button>
</div>
</form>
<script>
document.getElementById("select-all").addEventListener("change", function (event) {
  document.querySelectorAll('#tasks input[name="uids"]').forEach(function (box) { box.checked = event.target.checked; });
});
</script>
"""#

    /// One task as stored (wire JSON), linked from the monitor's Task UID column.
    static let queueTask = #"""
<h1>Task <span class="mono">{{shortUID}}</span></h1>
<p><a href="/queue_tasks?filter=all">Back to the queue monitor</a></p>
<pre class="card mono" id="task-json">{{json}}</pre>
"""#
}
