"""Stage entry points run inside pipeline containers; each reads /pfs/<input> and writes /pfs/out."""
