package dev.lancet.cli;

/** A HOST:PORT flag. */
record HostPort(String host, int port) {

    static HostPort parse(String flag, String value) {
        int colon = value.lastIndexOf(':');
        try {
            int port = Integer.parseInt(value.substring(colon + 1));
            if (colon < 1 || port < 0 || port > 65535) {
                throw new NumberFormatException();
            }
            return new HostPort(value.substring(0, colon), port);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + " must be HOST:PORT, got '" + value + "'");
        }
    }
}
