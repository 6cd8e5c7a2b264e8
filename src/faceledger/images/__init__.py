"""Photo decoding: bytes in, an RGB array out, or a named error."""

from .decode import DecodedImage, ImageLimits, decode_image, read_image_file, sha256_bytes

__all__ = ["DecodedImage", "ImageLimits", "decode_image", "read_image_file", "sha256_bytes"]
