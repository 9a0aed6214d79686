package dev.lancet.daemon;

import io.grpc.Status;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.List;

/**
 * Confines every path a client names to the daemon's roots: a path is resolved against the first root when
 * relative, then through every symbolic link of its longest existing prefix and every {@code ..}, and refused
 * (PERMISSION_DENIED) unless the result lies under a root. A path that does not exist yet (an output directory)
 * is checked through its nearest existing parent, so a link there cannot lead the write elsewhere.
 */
final class PathGuard {

    private static final int MAX_LENGTH = 4096;

    private final List<Path> roots;

    /** @param roots existing directories; resolved here, once */
    PathGuard(List<Path> roots) throws IOException {
        if (roots.isEmpty()) {
            throw new IllegalArgumentException("at least one root directory is needed");
        }
        this.roots = roots.stream().map(PathGuard::real).toList();
    }

    private static Path real(Path root) {
        try {
            return root.toRealPath();
        } catch (IOException e) {
            throw new IllegalArgumentException("--root " + root + ": not an existing directory");
        }
    }

    /** The path {@code name} stands for, with links and {@code ..} resolved, if it lies under a root. */
    Path resolve(String field, String name) {
        if (name.isEmpty() || name.length() > MAX_LENGTH || name.indexOf('\0') >= 0) {
            throw Status.INVALID_ARGUMENT.withDescription(field + ": not a path").asRuntimeException();
        }
        Path given;
        try {
            given = roots.get(0).resolve(name);
        } catch (InvalidPathException e) {
            throw Status.INVALID_ARGUMENT.withDescription(field + ": not a path").asRuntimeException();
        }
        Path resolved = resolveLinks(field, given);
        if (roots.stream().noneMatch(resolved::startsWith)) {
            throw Status.PERMISSION_DENIED.withDescription(field + " '" + name + "' is outside the daemon's roots")
                    .asRuntimeException();
        }
        return resolved;
    }

    /**
     * The path as the OS would follow it: name by name from the file system's root, each existing prefix replaced
     * by its real path (so a link is followed before a later {@code ..} climbs out of its target), the names past
     * the last existing one, which cannot be links, taken as written.
     */
    private static Path resolveLinks(String field, Path path) {
        Path current = path.getRoot();
        boolean existing = true;
        for (Path name : path) {
            String n = name.toString();
            if (n.equals(".")) {
                continue;
            }
            if (n.equals("..")) {
                if (!existing) {
                    // the OS cannot climb out of a directory that is not there; nor is it checked past one
                    throw Status.INVALID_ARGUMENT.withDescription(field + " climbs out of a missing directory")
                            .asRuntimeException();
                }
                current = current.getParent() == null ? current : current.getParent();
                continue;
            }
            current = current.resolve(name);
            if (existing && Files.exists(current)) {
                try {
                    current = current.toRealPath();
                } catch (IOException e) {
                    throw Status.PERMISSION_DENIED.withDescription(field + ": cannot resolve '" + name + "'").asRuntimeException();
                }
            } else {
                existing = false;
            }
        }
        return current;
    }
}
