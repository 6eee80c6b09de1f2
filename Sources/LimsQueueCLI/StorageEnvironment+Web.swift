import QueueAuth
import WebUI

extension StorageEnvironment {
    /// How the settings page regenerates the auth key: a new random key stored in the database (servers and
    /// consumers use it after a restart); not possible while `LIMSQUEUE_AUTH_KEY` supplies the key.
    var webAuthKeyControl: AuthKeyControl {
        if (try? AuthKeySource.fromEnvironment()) != nil {
            return .unavailable("the key comes from \(AuthKeySource.environmentVariable); put a new one there (`limsqueue keygen` prints one) and restart")
        }
        let store = self.store
        return .available(regenerate: {
            let key = Fernet.generateKey()
            try await store.setAuthKey(key)
            return key
        })
    }
}
