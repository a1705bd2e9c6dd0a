"""PFS: pachlet's versioned file system (repos, branches, commits, files), split like pachd's PFS server.

``pachlet.pfs.driver.PFS`` is the entry point; ``paths`` holds path rules, ``glob`` Pachyderm's globs.
"""
