extension PageTemplates {
    /// The queue settings form: every setting with its range and help text, the auth key section.
    /// Source: senaite.queue `queue-controlpanel`, reference 1.7.
    static let controlPanel = #"""
<h1>Queue settings</h1>
<form method="post" action="/queue-controlpanel" class="card" novalidate id="settings-form">
<input type="hidden" name="_csrf" value="{{csrf}}">
{{#fields}}
<div class="form-row {{#error}}invalid{{/error}}" id="row-{{key}}">
<label for="field-{{key}}">{{title}}{{#range}} <span class="muted">({{range}})</span>{{/range}}</label>
{{#multiline}}<textarea id="field-{{key}}" name="{{key}}" rows="5">{{value}}</textarea>{{/multiline}}
{{^multiline}}<input type="{{inputType}}" id="field-{{key}}" name="{{key}}" value="{{value}}" {{#min}}min="{{min}}" max="{{max}}"{{/min}}>{{/multiline}}
<div class="help">{{help}}</div>
{{#error}}<div class="error" id="error-{{key}}">{{error}}</div>{{/error}}
</div>
{{/fields}}
<button type="submit" class="primary" id="save-settings">Save</button>
</form>
<h2>Auth secret key</h2>
<div class="card" id="auth-key">
<p>Fingerprint of the current key: <span class="mono">{{keyFingerprint}}</span>. The key signs consumer tokens and sessions; it is never shown.</p>
{{#canRegenerate}}
<form method="post" action="/queue-controlpanel/auth-key">
<input type="hidden" name="_csrf" value="{{csrf}}">
<button type="submit" id="regenerate-key">Regenerate key…</button>
</form>
<p class="help muted">{{regenerateNote}}</p>
{{/canRegenerate}}
{{^canRegenerate}}<p class="muted">The key cannot be regenerated here: {{regenerateNote}}</p>{{/canRegenerate}}
</div>
"""#
}
