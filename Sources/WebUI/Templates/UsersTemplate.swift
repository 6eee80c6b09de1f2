extension PageTemplates {
    /// The users of the lab, for lab managers: roles, active or not, and the forms that change them.
    static let users = #"""
<h1>Users</h1>
<table class="listing" id="users">
<tr><th>User</th><th>Name</th><th>E-mail</th><th>Roles</th><th>State</th><th>Change</th></tr>
{{#rows}}
<tr data-user="{{userid}}" data-active="{{#active}}true{{/active}}{{^active}}false{{/active}}">
<td class="mono">{{userid}}</td><td>{{fullname}}</td><td>{{email}}</td><td>{{roles}}</td>
<td>{{#active}}<span class="state state-running">active</span>{{/active}}{{^active}}<span class="state state-failed">deactivated</span>{{/active}}</td>
<td>{{^isClient}}
<form method="post" action="/users" style="display: inline"><input type="hidden" name="_csrf" value="{{csrf}}"><input type="hidden" name="action" value="roles"><input type="hidden" name="username" value="{{userid}}">
{{#roleOptions}}<label><input type="checkbox" name="roles" value="{{role}}" {{#checked}}checked{{/checked}}>{{role}}</label> {{/roleOptions}}<button type="submit">Save roles</button></form>
{{/isClient}}{{#isClient}}<span class="muted">client contact's login</span>{{/isClient}}
<form method="post" action="/users" style="display: inline"><input type="hidden" name="_csrf" value="{{csrf}}"><input type="hidden" name="action" value="reset"><input type="hidden" name="username" value="{{userid}}">
<input type="password" name="password" placeholder="new password" aria-label="new password of {{userid}}" autocomplete="new-password" style="min-width: 140px"><button type="submit">Reset password</button></form>
{{^isSelf}}<form method="post" action="/users" style="display: inline"><input type="hidden" name="_csrf" value="{{csrf}}"><input type="hidden" name="username" value="{{userid}}">
{{#active}}<button type="submit" name="action" value="deactivate" class="danger">Deactivate</button>{{/active}}{{^active}}<button type="submit" name="action" value="activate">Activate</button>{{/active}}</form>{{/isSelf}}
</td>
</tr>
{{/rows}}
</table>
<h2>Add a user</h2>
<form method="post" action="/users" id="add-user">
<input type="hidden" name="_csrf" value="{{csrf}}"><input type="hidden" name="action" value="add">
<div class="form-row"><label for="username">User name</label><input type="text" id="username" name="username" required></div>
<div class="form-row"><label for="fullname">Full name</label><input type="text" id="fullname" name="fullname"></div>
<div class="form-row"><label for="email">E-mail</label><input type="text" id="email" name="email"></div>
<div class="form-row"><label for="password">Password</label><input type="password" id="password" name="password" autocomplete="new-password" required></div>
<div class="form-row"><label>Roles</label>{{#roleOptions}}<label style="display: inline; font-weight: normal"><input type="checkbox" name="roles" value="{{role}}">{{role}}</label> {{/roleOptions}}</div>
<div class="buttons"><button type="submit" class="primary" id="add-user-button">Add user</button></div>
</form>
<p class="muted">Client users are made by linking a client contact to a login. A password reset and a deactivation end the user's sessions at once.</p>
"""#

    /// Changing one's own password.
    static let password = #"""
<h1>Change password</h1>
<form method="post" action="/password" id="password-form">
<input type="hidden" name="_csrf" value="{{csrf}}">
<div class="form-row"><label for="current_password">Current password</label><input type="password" id="current_password" name="current_password" autocomplete="current-password" required></div>
<div class="form-row"><label for="new_password">New password</label><input type="password" id="new_password" name="new_password" autocomplete="new-password" minlength="{{minLength}}" required><div class="help">At least {{minLength}} characters. You will log in again everywhere.</div></div>
<div class="form-row"><label for="confirm_password">New password again</label><input type="password" id="confirm_password" name="confirm_password" autocomplete="new-password" required></div>
<div class="buttons"><button type="submit" class="primary" id="change-password">Change password</button></div>
</form>
"""#
}
