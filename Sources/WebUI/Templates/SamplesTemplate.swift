extension PageTemplates {
    /// The samples list (queued samples shown as Queued with a spinner). Source: reference 1.10.
    static let samples = #"""
<h1>Samples</h1>
<form method="get" action="/samples" class="card filters" id="samples-filter" style="margin-bottom: 12px; display: flex; gap: 12px; flex-wrap: wrap; align-items: flex-end">
<div class="form-row"><label for="q">Search id, client sample id or client</label><input id="q" name="q" value="{{q}}" placeholder="H2O-0001" title="Each word finds ids, client sample ids and clients' names and codes with a word starting so: 0001, h2o-00, river 7, happy h2o"></div>
<div class="form-row"><label for="state">State</label><select id="state" name="state"><option value="">(any)</option>{{#stateOptions}}<option value="{{value}}" {{#selected}}selected{{/selected}}>{{label}}</option>{{/stateOptions}}</select></div>
<div class="form-row"><label for="client">Client</label><select id="client" name="client"><option value="">(any)</option>{{#clientOptions}}<option value="{{value}}" {{#selected}}selected{{/selected}}>{{label}}</option>{{/clientOptions}}</select></div>
{{#sortItems}}<input type="hidden" name="{{name}}" value="{{value}}">{{/sortItems}}
<div class="form-row"><button type="submit" id="samples-filter-submit">Filter</button></div>
</form>
<table class="listing" id="samples">
<tr><th>{{#sortByID}}<a href="{{href}}" id="sort-id" title="{{title}}">Sample{{arrow}}</a>{{/sortByID}}</th><th>Client SID</th><th>Client</th><th>Sample type</th><th>Analyses</th><th>{{#sortByCreated}}<a href="{{href}}" id="sort-created" title="{{title}}">Created{{arrow}}</a>{{/sortByCreated}}</th><th>State</th></tr>
{{#rows}}
<tr class="{{#queued}}disabled{{/queued}}" data-uid="{{uid}}">
<td><a href="/samples/{{uid}}">{{id}}</a></td><td>{{clientSampleID}}</td><td>{{client}}</td><td>{{sampleType}}</td><td>{{count}}</td><td>{{created}}</td>
<td>{{#queued}}<span class="state state-queued"><span class="spinner"></span>Queued</span>{{/queued}}{{^queued}}<span class="state">{{state}}</span>{{/queued}}</td>
</tr>
{{/rows}}
{{^rows}}<tr><td colspan="7" class="muted">No samples.</td></tr>{{/rows}}
</table>
<div class="pager" id="pager">{{total}} samples. {{#pages}}{{#gap}}<span class="gap">…</span>{{/gap}}{{^gap}}{{#current}}<span><b>{{number}}</b></span>{{/current}}{{^current}}<a href="{{href}}">{{number}}</a>{{/current}}{{/gap}}{{/pages}}</div>
"""#

    /// One sample with its analyses and senaite.queue's queued notice. Source: reference 1.9-1.10.
    static let sample = #"""
<h1>Sample {{id}} <span class="state">{{state}}</span></h1>
<p>Client: <b>{{client}}</b>{{#clientSampleID}} · Client sample id: <b>{{clientSampleID}}</b>{{/clientSampleID}} · Contact: {{contact}} · Sample type: {{sampleType}} · Priority {{priority}} · Created {{created}}</p>
{{#queuedCount}}
<div class="notice" id="queued-notice"><span class="spinner"></span><span id="queued-count">{{queuedText}}</span> <a href="/samples/{{uid}}">Refresh</a></div>
{{/queuedCount}}
<table class="listing" id="analyses">
<tr><th>Analysis</th><th>Keyword</th><th>Result</th><th>State</th><th>Worksheet</th><th>Analyst</th></tr>
{{#rows}}
<tr class="{{#queued}}disabled{{/queued}}" data-uid="{{uid}}" data-state="{{state}}">
<td>{{title}}</td><td class="mono">{{keyword}}</td><td>{{result}}</td>
<td>{{#queued}}<span class="state state-queued"><span class="spinner"></span>queued</span>{{/queued}}{{^queued}}<span class="state">{{state}}</span>{{/queued}}</td>
<td>{{#worksheetUID}}<a href="/worksheets/{{worksheetUID}}">{{worksheetID}}</a>{{/worksheetUID}}</td><td>{{analyst}}</td>
</tr>
{{/rows}}
</table>
"""#
}
