package dev.lancet.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `lancet node` and `lancet daemon --cluster` refuse a bad cluster configuration with one line before a member starts
 * (the daemon before it creates its state directory).
 */
class NodeCommandTest {

    @TempDir
    Path tmp;

    @Test
    void badClusterConfigurationIsRefusedBeforeAMemberStarts() throws IOException {
        Path missing = tmp.resolve("missing.conf");
        Path broken = Files.writeString(tmp.resolve("broken.conf"), "pekko { cluster {");
        Path state = tmp.resolve("state");
        CliRun.assertRefused(state, "cluster configuration " + missing, "node", "--cluster", missing.toString());
        CliRun.assertRefused(state, "cluster configuration " + broken, "node", "--cluster", broken.toString());
        CliRun.assertRefused(state, "--seed-node must be pekko://lancet@HOST:PORT", "node", "--cluster",
                broken.toString(), "--seed-node", "127.0.0.1:25520");
        CliRun.assertRefused(state, "--cluster-port must be 0..65535, got -1", "node", "--cluster", broken.toString(),
                "--cluster-port", "-1");
        CliRun.assertRefused(state, "cluster configuration " + missing, "daemon", "--listen", "127.0.0.1:0",
                "--state", state.toString(), "--cluster", missing.toString());
    }
}
