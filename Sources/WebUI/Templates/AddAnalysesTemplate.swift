extension PageTemplates {
    /// A worksheet's Add analyses page: unassigned analyses of received samples, filtered and paged.
    static let addAnalyses = #"""
<h1>Add analyses to worksheet <a href="/worksheets/{{uid}}">{{id}}</a></h1>
<form method="get" action="/worksheets/{{uid}}/add" id="filter-form">
<input type="text" name="filter" value="{{filter}}" placeholder="Sample id, keyword or service" aria-label="filter">
<button type="submit">Filter</button>
</form>
<form method="post" action="/worksheets/{{uid}}/add" id="add-form">
<input type="hidden" name="_csrf" value="{{csrf}}">
<table class="listing" id="unassigned">
<tr><th></th><th>Sample</th><th>Analysis</th><th>Keyword</th></tr>
{{#rows}}<tr data-uid="{{uid}}"><td><input type="checkbox" name="uids" value="{{uid}}" aria-label="select {{label}}"></td><td>{{sampleID}}</td><td>{{title}}</td><td class="mono">{{keyword}}</td></tr>{{/rows}}
{{^rows}}<tr><td colspan="4" class="muted">No unassigned analysis of a received sample{{#filter}} matches "{{filter}}"{{/filter}}.</td></tr>{{/rows}}
</table>
<div class="pager" id="pager">{{total}} analyses. {{#pages}}{{#gap}}<span class="gap">…</span>{{/gap}}{{^gap}}{{#current}}<span><b>{{number}}</b></span>{{/current}}{{^current}}<a href="{{href}}">{{number}}</a>{{/current}}{{/gap}}{{/pages}}</div>
<div class="buttons"><button type="submit" class="primary" id="add-selected">Add selected</button> <a href="/worksheets/{{uid}}">Back to the worksheet</a></div>
</form>
"""#
}
