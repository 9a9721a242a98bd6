{
  description = "nix-deploy: build, diff and deploy Nix profiles over SSH with magic rollback";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      version = "0.0.0-${self.shortRev or "dirty"}";
      # go.mod asks for Go 1.26; older nixpkgs fall back to their default Go,
      # which then fails the build with a clear toolchain message.
      goFor = pkgs: pkgs.go_1_26 or pkgs.go;
    in
    {
      packages = forAllSystems (pkgs: {
        default = (pkgs.buildGoModule.override { go = goFor pkgs; }) {
          pname = "nix-deploy";
          inherit version;
          src = self;
          subPackages = [ "cmd/nix-deploy" ];
          # Placeholder: the hash of the Go module dependencies. It changes
          # with go.sum; the first build after a change fails and prints the
          # right value ("got: sha256-..."), which goes here. Not computed in
          # our CI: nixpkgs is not available offline there.
          vendorHash = pkgs.lib.fakeHash;
          env.CGO_ENABLED = "0";
          ldflags = [ "-s" "-w" "-X github.com/nix-deploy-action/nix-deploy-action/internal/cli.Version=${version}" ];
          # The test suite needs root, sshd, Docker and a writable Nix store.
          doCheck = false;
          meta = {
            description = "Build, diff and deploy Nix profiles over SSH with magic rollback";
            mainProgram = "nix-deploy";
          };
        };
      });

      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = "${self.packages.${pkgs.system}.default}/bin/nix-deploy";
        };
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [ (goFor pkgs) pkgs.gopls pkgs.nix pkgs.openssh pkgs.sudo pkgs.shellcheck pkgs.git ];
        };
      });

      # Prepares a NixOS machine to be a deploy target: see nix/deploy-target.nix.
      nixosModules.deploy-target = import ./nix/deploy-target.nix;
    };
}
