"""Settings, split by concern; every value comes from the environment (see README)."""

from .audit import *
from .base import *
from .database import *
from .email import *
from .kafka import *
from .mfa import *
from .privacy import *
from .production import check_production_settings
from .storage import *
from .tokens import *
from .users import *

check_production_settings(globals())
