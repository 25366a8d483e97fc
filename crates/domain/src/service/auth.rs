//! Logging in and checking tokens.

use crate::admin::{EmailAddress, Password};
use crate::ports::{
    Clock, IssuedToken, OrganizationStore, PasswordHasher, Principal, TenantStore, TokenCodec,
};
use crate::service::{AuthenticateError, LoginError, Service};

impl<S, H, T, C> Service<S, H, T, C>
where
    S: OrganizationStore + TenantStore,
    H: PasswordHasher,
    T: TokenCodec,
    C: Clock,
{
    pub(super) async fn log_in(
        &self,
        email: &EmailAddress,
        password: &Password,
    ) -> Result<IssuedToken, LoginError> {
        let admin = self.store.find_admin_by_email(email).await?;
        // Verify even when the email is unknown (against no hash, which the hasher answers with
        // the same work), so the response time does not tell which emails have accounts.
        let matches = self
            .hasher
            .verify(password, admin.as_ref().map(|admin| &admin.password_hash))
            .await
            .map_err(LoginError::Unknown)?;
        let admin = match admin {
            Some(admin) if matches => admin,
            _ => return Err(LoginError::InvalidCredentials),
        };
        let principal = Principal {
            admin_id: admin.id,
            organization_id: admin.organization_id,
        };
        self.tokens
            .issue(&principal, self.clock.now())
            .map_err(LoginError::Unknown)
    }

    pub(super) async fn check_token(&self, token: &str) -> Result<Principal, AuthenticateError> {
        let principal = self
            .tokens
            .verify(token)
            .ok_or(AuthenticateError::InvalidToken)?;
        // A valid signature is not enough: the admin (and with it the organization) may have been
        // deleted since the token was issued.
        match self.store.find_admin_by_id(&principal.admin_id).await? {
            Some(admin) if admin.organization_id == principal.organization_id => Ok(principal),
            _ => Err(AuthenticateError::InvalidToken),
        }
    }
}
