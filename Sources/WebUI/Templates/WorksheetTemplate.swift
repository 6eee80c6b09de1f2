extension PageTemplates {
    /// One worksheet: its layout by position with each analysis's state, result entry, the workflow buttons, and
    /// senaite.queue's "being processed in background" notice. Rows of queued analyses are disabled.
    /// Source: senaite.core worksheet view, senaite.queue worksheet viewlet and listing adapter, reference 1.9-1.10.
    static let worksheet = #"""
<h1>Worksheet {{id}} <span class="state">{{state}}</span></h1>
<p>Analyst: <b>{{analyst}}</b>{{#template}} · Template: <b>{{template}}</b>{{/template}}{{#instrument}} · Instrument: <b>{{instrument}}</b>{{/instrument}} · Created {{created}}</p>
{{#queuedCount}}
<div class="notice" id="queued-notice"><span class="spinner"></span><b>Analyses in process.</b> <span id="queued-count">{{queuedText}}</span> <a href="/worksheets/{{uid}}">Refresh</a>. You can work on other worksheets meanwhile.</div>
{{/queuedCount}}
<form method="post" action="/worksheets/{{uid}}" id="worksheet-form">
<input type="hidden" name="_csrf" value="{{csrf}}">
<table class="listing" id="layout">
<tr><th></th><th>Pos</th><th>Type</th><th>Sample</th><th>Analysis</th><th>Result</th><th>State</th><th>Analyst</th></tr>
{{#rows}}
<tr class="{{#disabled}}disabled{{/disabled}}" data-uid="{{uid}}" data-state="{{state}}" data-queued="{{#queued}}true{{/queued}}{{^queued}}false{{/queued}}">
<td><input type="checkbox" name="uids" value="{{uid}}" aria-label="select {{label}}" {{#disabled}}disabled{{/disabled}}></td>
<td>{{position}}</td><td>{{type}}</td>
<td>{{#sampleUID}}<a href="/samples/{{sampleUID}}">{{sampleID}}</a>{{/sampleUID}}{{^sampleUID}}{{container}}{{/sampleUID}}</td>
<td>{{title}} <span class="muted mono">{{keyword}}</span></td>
<td>{{#editable}}<input type="text" name="result.{{uid}}" value="{{result}}" size="8" aria-label="result of {{label}}">{{/editable}}{{^editable}}{{result}}{{/editable}}</td>
<td>{{#queued}}<span class="state state-queued"><span class="spinner"></span>queued</span>{{/queued}}{{^queued}}<span class="state">{{state}}</span>{{/queued}}</td>
<td>{{analyst}}</td>
</tr>
{{/rows}}
{{^rows}}<tr><td colspan="8" class="muted">No analyses on this worksheet.</td></tr>{{/rows}}
</table>
<div class="buttons">
<button type="submit" name="action" value="save" id="save-results">Save results</button>
<button type="submit" name="action" value="submit" id="action-submit" class="primary">Submit</button>
<button type="submit" name="action" value="verify" id="action-verify">Verify</button>
<button type="submit" name="action" value="retract" id="action-retract">Retract</button>
<button type="submit" name="action" value="reject" id="action-reject">Reject</button>
<button type="submit" name="action" value="unassign" id="action-unassign">Unassign</button>
{{#canAddAnalyses}}<a href="/worksheets/{{uid}}/add" id="add-analyses">Add analyses</a>{{/canAddAnalyses}}
</div>
<p class="muted">Submit saves the results typed in the selected rows, then submits them.</p>
</form>
{{#outcomes}}<h2>Last action</h2><ul id="outcomes">{{#items}}<li>{{label}}: {{message}}</li>{{/items}}</ul>{{/outcomes}}
"""#
}
