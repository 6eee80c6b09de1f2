extension PageTemplates {
    /// The user's own background work, with Retry and Dismiss for failed tasks.
    static let myTasks = #"""
<h1>My background work</h1>
<p class="muted">Work you asked for that runs in the background: queued, running, and failed (retry or dismiss it).</p>
<table class="listing" id="my-tasks">
<tr><th>Task</th><th>What</th><th>On</th><th>Objects</th><th>Created</th><th>Status</th><th>Why it failed</th><th></th></tr>
{{#rows}}
<tr data-task="{{taskUID}}" data-status="{{status}}">
<td class="mono">{{shortUID}}</td><td>{{name}}</td><td>{{context}}</td><td>{{objects}}</td><td>{{created}}</td>
<td><span class="state state-{{status}}">{{status}}</span></td><td>{{error}}</td>
<td>{{#failed}}<form method="post" action="/my_tasks" style="display: inline">
<input type="hidden" name="_csrf" value="{{csrf}}"><input type="hidden" name="task_uid" value="{{taskUID}}">
<button type="submit" name="action" value="retry">Retry</button>
<button type="submit" name="action" value="dismiss">Dismiss</button>
</form>{{/failed}}</td>
</tr>
{{/rows}}
{{^hasRows}}<tr><td colspan="8" class="muted">You have no work in the background.</td></tr>{{/hasRows}}
</table>
{{#hasRows}}<div class="pager" id="pager">{{total}} tasks. {{#pages}}{{#gap}}<span class="gap">…</span>{{/gap}}{{^gap}}{{#current}}<span><b>{{number}}</b></span>{{/current}}{{^current}}<a href="{{href}}">{{number}}</a>{{/current}}{{/gap}}{{/pages}}</div>{{/hasRows}}
"""#
}
