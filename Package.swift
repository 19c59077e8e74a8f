// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "recorderfs",
    products: [
        .executable(name: "recorderfs", targets: ["recorderfs"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        // C shim: libfuse3's version-selected symbols and macros that Swift cannot import,
        // and libfuse3 itself, loaded with dlopen when the daemon starts (the binary does not depend on it).
        .target(name: "CFuseShim"),
        // Linux's own definitions (loop, CD-ROM ioctls, device numbers): no number typed in by hand.
        .target(name: "CLinux"),
        // The request loop: libfuse's multi-threaded loop, in the kernel's order (docs/request-loop.md).
        .target(
            name: "RequestLoop",
            dependencies: ["CFuseShim", "CLinux"]
        ),
        // logind's inhibitors over the system bus, with sd-bus of libsystemd
        // (loaded with dlopen when first needed: the binary does not depend on it).
        .target(name: "CLogind"),
        // libudev, loaded with dlopen when discovery first needs it (the binary does not depend on it).
        .target(name: "CUdev"),
        // The device core: lock rules and everything that touches a drive. Knows nothing of FUSE.
        .target(
            name: "RecorderCore",
            dependencies: [
                "CLinux",
                "CUdev",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // The FUSE adapter: translates files into calls of the core; decides nothing about locks.
        .target(
            name: "RecorderFUSE",
            dependencies: [
                "CFuseShim",
                "RequestLoop",
                "RecorderCore",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "recorderfs",
            dependencies: [
                "CLinux",
                "CLogind",
                "RecorderCore",
                "RecorderFUSE",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "RecorderCoreTests",
            dependencies: [
                "RecorderCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            // `udevadm info` output of real drives.
            resources: [.copy("Recordings")]
        ),
        // The FUSE adapter without a mount: inodes, errnos, what the files show.
        .testTarget(
            name: "RecorderFUSETests",
            dependencies: [
                "RecorderCore",
                "RecorderFUSE",
                "CFuseShim",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A real mount driven from other processes: needs root and /dev/fuse.
        .testTarget(
            name: "CommandTests",
            dependencies: [
                "recorderfs",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "MountedTests",
            dependencies: ["recorderfs"],
            // The python3 programs the tests run in other processes.
            resources: [.copy("Scripts")]
        ),
    ]
)
