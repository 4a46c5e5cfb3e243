import type { Metadata } from "next";
import type { ReactNode } from "react";
import "./globals.css";

// No next/font/google here (create-next-app adds Geist): it would fetch from Google.
export const metadata: Metadata = { title: "botexcel" };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en" className="h-full antialiased">
      <body className="min-h-full flex flex-col">{children}</body>
    </html>
  );
}
