from auth.authentication import AuthenticatedRequest
from users.models import User


class UserRequest(AuthenticatedRequest):
    """An authenticated request as the users app's and the apps above it see it: the
    session's user is a User."""

    user: User
