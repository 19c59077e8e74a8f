import os, sys
root = sys.argv[1]
paths = [root, os.path.join(root, "by-id")]
for name in sorted(os.listdir(root)):
    if name != "by-id":
        paths.append(os.path.join(root, name))
        if os.path.isdir(os.path.join(root, name)):
            paths += [os.path.join(root, name, f) for f in sorted(os.listdir(os.path.join(root, name)))]
for p in paths:
    s = os.lstat(p)
    print("|".join(str(v) for v in (p, s.st_mode, s.st_nlink, s.st_size, s.st_uid, s.st_gid, s.st_ino,
          s.st_atime_ns, s.st_mtime_ns, s.st_ctime_ns, s.st_blocks, s.st_blksize, s.st_dev)))
for p in paths:
    if os.path.isdir(p):
        for entry in os.scandir(p):
            print("dirent|%s|%d" % (entry.path, entry.inode()))
print("parent|%d" % os.stat(os.path.dirname(root)).st_dev)
