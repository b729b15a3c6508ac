"""The emulated routes, one module per area of the API; ``app.Emulator`` joins them."""

from .admin import AdminRoutes
from .albums import AlbumRoutes
from .assets import AssetRoutes
from .server import ServerRoutes
from .tags import TagRoutes
from .upload import UploadRoutes

__all__ = ["AdminRoutes", "AlbumRoutes", "AssetRoutes", "ServerRoutes", "TagRoutes", "UploadRoutes"]
