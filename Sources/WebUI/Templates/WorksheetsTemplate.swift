extension PageTemplates {
    /// The worksheets list (queued worksheets shown as Queued with a spinner, not selectable) and the Add
    /// worksheet form. Source: senaite.core worksheets folder with senaite.queue's listing adapter, reference 1.10.
    static let worksheets = #"""
<h1>Worksheets</h1>
{{#canAdd}}
<form method="post" action="/worksheets" class="card" id="add-worksheet" style="margin-bottom: 12px">
<input type="hidden" name="_csrf" value="{{csrf}}">
<input type="hidden" name="action" value="add">
<b>Add worksheet</b>
<div style="display: flex; gap: 12px; flex-wrap: wrap; align-items: flex-end; margin-top: 6px">
<div class="form-row"><label for="analyst">Analyst</label><select id="analyst" name="analyst">{{#analysts}}<option value="{{userid}}" {{#selected}}selected{{/selected}}>{{label}}</option>{{/analysts}}</select></div>
<div class="form-row"><label for="template">Template</label><select id="template" name="template"><option value="">(none)</option>{{#templates}}<option value="{{uid}}">{{title}}</option>{{/templates}}</select></div>
<div class="form-row"><label for="instrument">Instrument</label><select id="instrument" name="instrument"><option value="">(none)</option>{{#instruments}}<option value="{{uid}}">{{title}}</option>{{/instruments}}</select></div>
<div class="form-row"><button type="submit" class="primary" id="add-worksheet-submit">Add</button></div>
</div>
</form>
{{/canAdd}}
<form method="get" action="/worksheets" class="card filters" id="worksheets-filter" style="margin-bottom: 12px; display: flex; gap: 12px; flex-wrap: wrap; align-items: flex-end">
<div class="form-row"><label for="q">Search id</label><input id="q" name="q" value="{{q}}" placeholder="WS-0001" title="Each word finds ids with a word starting so: 0001, ws-00"></div>
<div class="form-row"><label for="state">State</label><select id="state" name="state"><option value="">(open, to be verified, verified)</option>{{#stateOptions}}<option value="{{value}}" {{#selected}}selected{{/selected}}>{{label}}</option>{{/stateOptions}}</select></div>
<div class="form-row"><label for="filter-analyst">Analyst</label><select id="filter-analyst" name="analyst"><option value="">(any)</option>{{#analystOptions}}<option value="{{value}}" {{#selected}}selected{{/selected}}>{{label}}</option>{{/analystOptions}}</select></div>
<div class="form-row"><label><input type="checkbox" name="mine" value="1" id="mine" {{#mine}}checked{{/mine}}> Mine</label></div>
{{#sortItems}}<input type="hidden" name="{{name}}" value="{{value}}">{{/sortItems}}
<div class="form-row"><button type="submit" id="worksheets-filter-submit">Filter</button></div>
</form>
<form method="post" action="/worksheets" id="worksheets-form">
<input type="hidden" name="_csrf" value="{{csrf}}">
<table class="listing" id="worksheets">
<tr><th></th><th>{{#sortByID}}<a href="{{href}}" id="sort-id" title="{{title}}">Worksheet{{arrow}}</a>{{/sortByID}}</th><th>Analyst</th><th>Template</th><th>Instrument</th><th>Analyses</th><th>{{#sortByCreated}}<a href="{{href}}" id="sort-created" title="{{title}}">Created{{arrow}}</a>{{/sortByCreated}}</th><th>State</th></tr>
{{#rows}}
<tr class="{{#queued}}disabled{{/queued}}" data-uid="{{uid}}" data-queued="{{#queued}}true{{/queued}}{{^queued}}false{{/queued}}">
<td>{{^queued}}<input type="checkbox" name="uids" value="{{uid}}" aria-label="select {{id}}">{{/queued}}</td>
<td><a href="/worksheets/{{uid}}">{{id}}</a></td>
<td>{{analyst}}</td><td>{{template}}</td><td>{{instrument}}</td><td>{{count}}</td><td>{{created}}</td>
<td>{{#queued}}<span class="state state-queued"><span class="spinner"></span>Queued</span>{{/queued}}{{^queued}}<span class="state">{{state}}</span>{{/queued}}</td>
</tr>
{{/rows}}
{{^rows}}<tr><td colspan="8" class="muted">No worksheets yet.</td></tr>{{/rows}}
</table>
<div class="buttons"><button type="submit" name="action" value="remove" id="remove-worksheets">Remove</button></div>
</form>
<div class="pager" id="pager">{{total}} worksheets. {{#pages}}{{#gap}}<span class="gap">…</span>{{/gap}}{{^gap}}{{#current}}<span><b>{{number}}</b></span>{{/current}}{{^current}}<a href="{{href}}">{{number}}</a>{{/current}}{{/gap}}{{/pages}}</div>
"""#
}
