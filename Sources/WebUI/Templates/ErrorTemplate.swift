extension PageTemplates {
    /// An error page body: the HTTP status and what went wrong.
    static let error = #"""
<h1>{{heading}}</h1>
<div class="flash flash-error" id="error-message">{{message}}</div>
<p><a href="{{back}}">Back</a></p>
"""#
}
