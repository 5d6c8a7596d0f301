"""The package as pip builds and installs it from pyproject.toml: both top-level packages ship, and the
generated `secretgate.v1` modules import each other without the source tree on the path."""

import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True, capture_output=True)


def test_the_wheel_installs_and_imports_on_its_own(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("tests", "__pycache__", "build", "*.egg-info"))
    pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(tmp_path / "dist"), str(source))
    [wheel] = (tmp_path / "dist").glob("secretgate_client-*.whl")
    pip("install", "--no-deps", "--no-index", "--target", str(tmp_path / "site"), str(wheel))

    installed = subprocess.run(
        [sys.executable, "-I", "-c",
         "import sys; sys.path.insert(0, sys.argv[1]);"
         "import secretgate_client, secretgate_client.litellm, secretgate.v1.secret_service_pb2_grpc as g;"
         "import secretgate.v1.admin_service_pb2_grpc as a;"
         "print(secretgate_client.__file__); print(g.SecretServiceStub.__name__); print(a.AdminServiceStub.__name__)",
         str(tmp_path / "site")],
        check=True, capture_output=True, text=True, cwd=tmp_path,
    ).stdout.split()
    assert installed == [str(tmp_path / "site" / "secretgate_client" / "__init__.py"), "SecretServiceStub", "AdminServiceStub"]
    assert (tmp_path / "site" / "secretgate" / "v1" / "secret_service_pb2.pyi").exists()
    assert (tmp_path / "site" / "secretgate_client" / "py.typed").exists()
