extension PageTemplates {
    /// The login form (`POST /login`), with the pre-login CSRF token.
    static let login = #"""
<h1>Log in</h1>
{{#error}}<div class="flash flash-error" id="login-error">{{error}}</div>{{/error}}
<form method="post" action="/login" class="card" style="max-width: 380px">
<input type="hidden" name="_csrf" value="{{csrf}}">
<input type="hidden" name="came_from" value="{{cameFrom}}">
<div class="form-row"><label for="username">User name</label><input type="text" id="username" name="username" value="{{username}}" autofocus autocomplete="username"></div>
<div class="form-row"><label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password"></div>
<button type="submit" class="primary" id="login-submit">Log in</button>
</form>
"""#
}
