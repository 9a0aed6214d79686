package dev.lancet.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Paths are confined to the roots as the OS would follow them: through links, then '..'. */
class PathGuardTest {

    @TempDir
    Path tmp;

    private static Status.Code refusal(PathGuard guard, String path) {
        return assertThrows(StatusRuntimeException.class, () -> guard.resolve("model", path)).getStatus().getCode();
    }

    @Test
    void pathsLeavingTheRootsThroughDotsOrLinksAreRefused() throws Exception {
        Path root = Files.createDirectories(tmp.resolve("root"));
        Path outside = Files.createDirectories(tmp.resolve("outside/deep"));
        Files.createDirectories(root.resolve("models/a"));
        Files.createSymbolicLink(root.resolve("link"), outside);
        Files.createSymbolicLink(root.resolve("inner"), root.resolve("models"));
        PathGuard guard = new PathGuard(List.of(root));
        Path real = root.toRealPath();

        assertEquals(real.resolve("models/a"), guard.resolve("model", "models/a"));
        assertEquals(real.resolve("models/a"), guard.resolve("model", real + "/models/a/../a"));
        assertEquals(real.resolve("models/a"), guard.resolve("model", "inner/a"), "a link inside the root is followed");
        assertEquals(real.resolve("new/out"), guard.resolve("out", "new/out"), "a path not there yet is checked too");
        assertEquals(Status.Code.PERMISSION_DENIED, refusal(guard, "../outside"));
        assertEquals(Status.Code.PERMISSION_DENIED, refusal(guard, "/etc/passwd"));
        assertEquals(Status.Code.PERMISSION_DENIED, refusal(guard, "link"));
        assertEquals(Status.Code.PERMISSION_DENIED, refusal(guard, "link/new-dir"));
        // the OS follows the link before climbing: link/.. is outside/, not the root
        assertEquals(Status.Code.PERMISSION_DENIED, refusal(guard, "link/../deep"));
        assertEquals(Status.Code.INVALID_ARGUMENT, refusal(guard, "missing/../../outside"));
        assertEquals(Status.Code.INVALID_ARGUMENT, refusal(guard, ""));
        assertEquals(Status.Code.INVALID_ARGUMENT, refusal(guard, "a\0b"));
    }
}
