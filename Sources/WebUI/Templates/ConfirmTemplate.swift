extension PageTemplates {
    /// A confirmation step: what will happen to which items, a form that repeats the request with
    /// `confirm=yes`, and a way back.
    static let confirm = #"""
<h1>{{heading}}</h1>
<p id="confirm-question">{{question}}</p>
{{#hasItems}}
<ul>{{#items}}<li class="mono">{{.}}</li>{{/items}}</ul>
{{/hasItems}}
<form method="post" action="{{action}}">
<input type="hidden" name="_csrf" value="{{csrf}}">
{{#fields}}<input type="hidden" name="{{name}}" value="{{value}}">{{/fields}}
<input type="hidden" name="confirm" value="yes">
<div class="buttons">
<button type="submit" class="{{buttonClass}}" id="confirm-yes">{{button}}</button>
<a href="{{cancel}}" id="confirm-cancel">Cancel</a>
</div>
</form>
"""#
}
